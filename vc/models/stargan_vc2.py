"""StarGAN-VC2 (Kaneko et al. 2019): a 2-1-2D generator with conditional instance norm and a
source-and-target projection discriminator.

Nets (sizes from :class:`~vc.models.config.ModelConfig`; ``K`` domains, ``Q`` feature rows):

* :class:`Generator` ``G(x (B,1,Q,N), c_src (B,K), c_trg (B,K)) -> (B,1,Q,N)``, "2-1-2D":
  a gated 5×15 stem, ``n_down`` 2-D gated downsampling stages (stride 2, instance norm), a reshape
  of the (channels × remaining rows) to 1-D channels, ``n_bottleneck`` 1-D residual blocks (kernel 3,
  GLU) whose instance norms are *conditional*: scale and shift are a linear function of the source
  and target codes ``[c_src; c_trg]`` (:class:`~vc.models.layers.AdaIN` on the code, i.e. CIN),
  the reshape back to 2-D, ``n_down`` upsampling stages (conv → pixel shuffle ×2 → IN → GLU) and a
  5×15 output conv.
* :class:`ProjectionDiscriminator` ``D(y (B,1,Q,N), src (B,), trg (B,)) -> (B,)``: gated CNN
  (stride-2 stages with instance norm), global average pooling to ``h``, and the projection
  ``ψ(h) + ⟨e(src, trg), h⟩`` with one embedding per (source, target) pair: the source-and-target
  conditional adversarial loss.
* a domain classifier (StarGAN-VC's :class:`~vc.models.stargan_vc.DomainClassifier`,
  ``vc2_classifier_dim`` channels) trained on real speech only, beside the GAN: no loss of G or D
  uses it. It judges the source domain when the user gives none. (D's pair scores cannot: D never
  sees real speech of one domain under another domain's target code, and on a toy two-domain task
  they judged near chance, as did a linear probe on D's features after a short run.)

Widths of the paper (as far as we know them): ``dim_in 128, max_conv_dim 256, n_down 2,
n_bottleneck 9`` (1-D blocks 256 wide, 512 inside), D ``disc_dim 128 … disc_max_dim 1024``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from vc.models.config import ModelConfig
from vc.models.layers import AdaIN, GatedConv2d, channel_plan, pad_to_multiple, padded_size
from vc.models.registry import register_family
from vc.models.stargan_vc import CodeConditionedFamily, DomainClassifier, check_rows, model_config, one_hot


class CondResBlk1d(nn.Module):
    """1-D residual block on ``(B, C, 1, N)``: ``x + CIN(conv(GLU(CIN(conv(x)))))``, kernels 1×3.

    The 1-D sequence is kept as a one-row image so :class:`AdaIN` (instance norm over N, scale and
    shift from the code) serves as conditional instance norm.
    """

    def __init__(self, dim: int, hidden: int, code_dim: int):
        super().__init__()
        self.conv1 = nn.Conv2d(dim, hidden * 2, (1, 3), 1, (0, 1))
        self.norm1 = AdaIN(code_dim, hidden * 2)
        self.conv2 = nn.Conv2d(hidden, dim, (1, 3), 1, (0, 1))
        self.norm2 = AdaIN(code_dim, dim)

    def forward(self, x: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        """``x (B, C, 1, N)``, ``code (B, code_dim)`` -> ``(B, C, 1, N)``."""
        h = nn.functional.glu(self.norm1(self.conv1(x), code), dim=1)
        return x + self.norm2(self.conv2(h), code)


class Generator(nn.Module):
    """2-1-2D generator; output shape = input shape. Q is fixed at build time (the 2-D→1-D reshape
    spans all remaining rows); N is padded to a multiple of ``2**n_down`` (at least two multiples)
    by repeating the last frame, and the output cropped back."""

    def __init__(self, dim_q: int, num_domains: int, dim_in: int = 128, max_conv_dim: int = 256, n_down: int = 2,
                 n_res: int = 9):
        super().__init__()
        self.dim_q, self.num_domains = dim_q, num_domains
        self.multiple = 2**n_down
        rows = padded_size(dim_q, self.multiple) // self.multiple
        dims = channel_plan(dim_in, max_conv_dim, n_down)
        self.top = dims[-1]
        flat, width = dims[-1] * rows, max_conv_dim
        self.stem = GatedConv2d(1, dims[0], (5, 15))
        self.down = nn.Sequential(
            *[GatedConv2d(dims[i], dims[i + 1], 5, 2, 2, norm="instance") for i in range(n_down)]
        )
        self.to_1d = nn.Sequential(nn.Conv2d(flat, width, 1), nn.InstanceNorm2d(width, affine=True))
        self.blocks = nn.ModuleList(CondResBlk1d(width, width * 2, 2 * num_domains) for _ in range(n_res))
        self.to_2d = nn.Sequential(nn.Conv2d(width, flat, 1), nn.InstanceNorm2d(flat, affine=True))
        self.up = nn.Sequential(
            *[GatedConv2d(dims[i + 1], dims[i], 5, 1, 2, norm="instance", upscale=2) for i in reversed(range(n_down))]
        )
        self.to_out = nn.Conv2d(dims[0], 1, (5, 15), 1, (2, 7))

    def forward(self, x: torch.Tensor, c_src: torch.Tensor, c_trg: torch.Tensor) -> torch.Tensor:
        """``x (B, 1, Q, N)``, source and target codes ``(B, K)`` (one-hot) -> ``(B, 1, Q, N)``."""
        check_rows("StarGAN-VC2 generator", x, self.dim_q)
        q, n = x.shape[-2:]
        # At least 2 frames must reach the 1-D blocks: instance norm over a single frame is undefined.
        h = self.down(self.stem(pad_to_multiple(x, self.multiple, minimum=2 * self.multiple)))
        b, c, r, m = h.shape
        h = self.to_1d(h.reshape(b, c * r, 1, m))
        code = torch.cat([c_src, c_trg], dim=1).to(h.dtype)
        for block in self.blocks:
            h = block(h, code)
        h = self.to_2d(h).reshape(b, c, r, m)
        return self.to_out(self.up(h))[:, :, :q, :n]


class ProjectionDiscriminator(nn.Module):
    """``D(y, src, trg)``: is ``y`` real speech of domain ``trg`` (presented as converted from ``src``)?

    Any Q and N: clips shorter than ``2**(disc_n_down + 1)`` rows/frames are padded (edge repeated).
    """

    def __init__(self, num_domains: int, dim: int = 128, max_dim: int = 1024, n_down: int = 3):
        super().__init__()
        self.num_domains = num_domains
        self.min_size = 2 ** (n_down + 1)  # instance norm needs more than one position at the last stage
        dims = channel_plan(dim, max_dim, n_down)
        self.trunk = nn.Sequential(
            GatedConv2d(1, dims[0], 3),
            *[GatedConv2d(dims[i], dims[i + 1], 3, 2, 1, norm="instance") for i in range(n_down)],
            # no norm on the last layer: the pooled features keep their level
            GatedConv2d(dims[-1], dims[-1], (1, 5)),
        )
        self.dim = dims[-1]
        self.psi = nn.Linear(dims[-1], 1)
        self.embed = nn.Embedding(num_domains * num_domains, dims[-1])

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``x (B, 1, Q, N)`` -> pooled features ``(B, C)`` (a mean, so the scale is length-independent)."""
        return self.trunk(pad_to_multiple(x, 1, minimum=self.min_size)).mean(dim=(2, 3))

    def project(self, h: torch.Tensor, src: torch.Tensor, trg: torch.Tensor) -> torch.Tensor:
        """Logits ``(B,)`` of pooled features ``h (B, C)`` for the pairs ``src, trg (B,)``."""
        pair = src.to(h.device).long() * self.num_domains + trg.to(h.device).long()
        return self.psi(h)[:, 0] + (self.embed(pair) * h).sum(dim=1)

    def forward(self, x: torch.Tensor, src: torch.Tensor, trg: torch.Tensor) -> torch.Tensor:
        """``x (B, 1, Q, N)``, domain indices ``src, trg (B,)`` -> logits ``(B,)``."""
        return self.project(self.features(x), src, trg)

    def all_pairs(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of every (source, target) pair: ``(B, K, K)``, indexed ``[b, src, trg]``."""
        h = self.features(x)
        k = self.num_domains
        return (self.psi(h) + h @ self.embed.weight.t()).reshape(-1, k, k)


def build_nets(cfg: ModelConfig, dim_q: int, num_domains: int) -> dict[str, nn.Module]:
    """The StarGAN-VC2 nets for ``dim_q`` feature rows and ``num_domains`` domains: generator,
    discriminator, and the small domain classifier that judges unknown source domains."""
    return {
        "generator": Generator(dim_q, num_domains, cfg.dim_in, cfg.max_conv_dim, cfg.n_down, cfg.n_bottleneck),
        "discriminator": ProjectionDiscriminator(num_domains, cfg.disc_dim, cfg.disc_max_dim, cfg.disc_n_down),
        "classifier": DomainClassifier(dim_q, num_domains, cfg.vc2_classifier_dim, cfg.vc2_classifier_dim,
                                       cfg.disc_n_down),
    }


@register_family("stargan_vc2")
class StarGANVC2Family(CodeConditionedFamily):
    """StarGAN-VC2: G(x, c, c') with CIN on both codes, projection D(y, c, c'), LSGAN."""

    g_nets = ("generator",)
    d_nets = ("discriminator", "classifier")
    needs_source = True

    def build(self, cfg: Any, dim_q: int, num_domains: int) -> dict[str, nn.Module]:
        """``cfg``: the ExperimentConfig (or its ModelConfig). Keys: generator, discriminator, classifier."""
        return build_nets(model_config(cfg), dim_q, num_domains)

    def d_loss(self, nets, batch, step, cfg, aux):
        from vc.losses.stargan_vc import vc2_d_loss

        return vc2_d_loss(nets, batch, step, cfg, aux)

    def g_loss(self, nets, batch, step, cfg, aux):
        from vc.losses.stargan_vc import vc2_g_loss

        return vc2_g_loss(nets, batch, step, cfg, aux)

    def dev_losses(self, nets, batch, cfg, aux):
        from vc.losses.stargan_vc import vc2_dev_losses

        return vc2_dev_losses(nets, batch, cfg, aux)

    @torch.no_grad()
    def convert(self, nets, x, f0n, source, target, style, shift=None) -> torch.Tensor:
        """``x (B, 1, Q, N)`` from domain ``source`` with ``style (1 or B, K)`` (the target code) ->
        ``(B, 1, Q, N)``. A negative ``source`` (unknown) is judged per clip by :meth:`judge_domain`."""
        del f0n, target, shift
        gen = nets["generator"]
        b = x.shape[0]
        if source is None or int(source) < 0:
            src = self._judge(nets, x).argmax(dim=1)
        else:
            src = torch.full((b,), int(source), dtype=torch.long, device=x.device)
        return gen(x, one_hot(src, gen.num_domains).to(x.device), style.to(x.device).expand(b, -1))

    @staticmethod
    def _judge(nets, x: torch.Tensor) -> torch.Tensor:
        """Domain probabilities ``(B, K)`` of clips ``x (B, 1, Q, N)`` from the domain classifier."""
        return nets["classifier"].probs(x)

    @torch.no_grad()
    def judge_domain(self, nets, ref) -> torch.Tensor:
        """Class probabilities of ``ref (M, 1, Q, N)`` from the small domain classifier (trained on
        real speech only, beside the GAN), averaged over patches and the M crops: ``(K,)``, summing to 1."""
        return self._judge(nets, ref).mean(0)
