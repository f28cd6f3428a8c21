"""StarGAN-VC (Kameoka et al. 2018): one-hot-conditioned gated CNNs, a PatchGAN D and a domain classifier.

Nets (sizes from :class:`~vc.models.config.ModelConfig`; ``K`` domains, ``Q`` feature rows):

* :class:`Generator` ``G(x (B,1,Q,N), c (B,K)) -> (B,1,Q,N)``: a 2-D gated-CNN encoder (batch norm,
  GLU) that halves Q and N ``n_down`` times and then collapses the remaining rows into
  ``vc_bottleneck`` channels, and a transposed-conv decoder that mirrors it. The target code ``c``
  (one-hot) is replicated over every position and concatenated to the input of each decoder layer.
* :class:`Discriminator` ``D(y (B,1,Q,N), c (B,K)) -> (B,P)``: gated CNN with ``c`` concatenated to
  every layer's input; it halves only N, and its last layer spans all Q rows, so every output is the
  real/fake logit of one time patch (PatchGAN). The loss averages ``log σ`` over patches, i.e. the
  probability of "real speech of domain c" is the product over patches.
* :class:`DomainClassifier` ``C(y (B,1,Q,N)) -> (B,K,P)``: gated CNN giving per-patch class logits.

Widths follow the paper's Fig. 2 with ``dim_in 32, max_conv_dim 128, n_down 2, vc_bottleneck 5``;
kernels are the paper's (3×9 stem, 4×8 stride 2, 3×5, full-height×5 collapse) as far as we know them.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vc.errors import ConfigError
from vc.models.config import ModelConfig
from vc.models.layers import GatedConv2d, cat_code, channel_plan, pad_to_multiple, padded_size
from vc.models.registry import ModelFamily, register_family


def model_config(cfg: Any) -> ModelConfig:
    """Accept an ExperimentConfig or a bare ModelConfig."""
    return cfg.model if hasattr(cfg, "model") else cfg


def one_hot(y: torch.Tensor, num_domains: int) -> torch.Tensor:
    """Domain indices ``(B,)`` -> float one-hot codes ``(B, K)``."""
    return F.one_hot(y.long(), num_domains).float()


def check_rows(name: str, x: torch.Tensor, dim_q: int) -> None:
    """Refuse an input that is not ``(B, 1, dim_q, N)``: these nets are built for one feature size."""
    if x.dim() != 4 or x.shape[1] != 1 or x.shape[2] != dim_q:
        raise ValueError(f"{name} was built for (B, 1, {dim_q}, N) feature images, got {tuple(x.shape)}")


class Generator(nn.Module):
    """Encoder–decoder over feature images ``(B, 1, Q, N)``; the output has exactly the input's shape.

    Q is fixed at build time (the bottleneck layer spans all remaining rows); N may be anything: it is
    padded to a multiple of ``2**n_down`` (edge frames repeated) and the output cropped back.
    """

    def __init__(self, dim_q: int, num_domains: int, dim_in: int = 32, max_conv_dim: int = 128, n_down: int = 2,
                 bottleneck: int = 5):
        super().__init__()
        self.dim_q, self.num_domains = dim_q, num_domains
        self.multiple = 2**n_down
        rows = padded_size(dim_q, self.multiple) // self.multiple  # rows left at the bottom of the encoder
        dims = channel_plan(dim_in, max_conv_dim, n_down)
        mid = max(1, dims[-1] // 2)
        k = num_domains
        # Even 4×8 kernels with stride 2 and padding (1, 3) halve even sizes exactly (and their
        # transposes double them), so the decoder lands back on the padded input size.
        self.encoder = nn.Sequential(
            GatedConv2d(1, dims[0], (3, 9), norm="batch"),
            *[GatedConv2d(dims[i], dims[i + 1], (4, 8), 2, (1, 3), norm="batch") for i in range(n_down)],
            GatedConv2d(dims[-1], mid, (3, 5), norm="batch"),
            GatedConv2d(mid, bottleneck, (rows, 5), (rows, 1), (0, 2), norm="batch"),
        )
        self.decoder = nn.ModuleList([
            GatedConv2d(bottleneck + k, mid, (rows, 5), (rows, 1), (0, 2), norm="batch", transpose=True),
            GatedConv2d(mid + k, dims[-1], (3, 5), 1, (1, 2), norm="batch", transpose=True),
            *[GatedConv2d(dims[i + 1] + k, dims[i], (4, 8), 2, (1, 3), norm="batch", transpose=True)
              for i in reversed(range(n_down))],
        ])
        self.to_out = nn.Conv2d(dims[0] + k, 1, (3, 9), 1, (1, 4))

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """``x (B, 1, Q, N)``, target code ``c (B, K)`` (one-hot) -> ``(B, 1, Q, N)``."""
        check_rows("StarGAN-VC generator", x, self.dim_q)
        q, n = x.shape[-2:]
        h = self.encoder(pad_to_multiple(x, self.multiple))
        for layer in self.decoder:
            h = layer(cat_code(h, c))
        return self.to_out(cat_code(h, c))[:, :, :q, :n]


class Discriminator(nn.Module):
    """PatchGAN over time: ``D(y (B,1,Q,N), c (B,K)) -> (B, P)`` real/fake logits, one per time patch."""

    def __init__(self, dim_q: int, num_domains: int, dim: int = 32, max_dim: int = 32, n_down: int = 3):
        super().__init__()
        self.dim_q = dim_q
        self.min_frames = 2**n_down  # each stride-2 stage needs 2 frames to give 1
        dims = channel_plan(dim, max_dim, n_down)
        k = num_domains
        self.layers = nn.ModuleList([
            GatedConv2d(1 + k, dims[0], (3, 9), norm="batch"),
            *[GatedConv2d(dims[i] + k, dims[i + 1], (3, 8), (1, 2), (1, 3), norm="batch") for i in range(n_down)],
        ])
        self.to_out = nn.Conv2d(dims[-1] + k, 1, (dim_q, 5), (dim_q, 1), (0, 2))

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """``x (B, 1, Q, N)``, domain code ``c (B, K)`` -> per-patch logits ``(B, P)``, P ≈ N / 2**n_down."""
        check_rows("StarGAN-VC discriminator", x, self.dim_q)
        h = pad_to_multiple(x, 1, minimum=self.min_frames)
        for layer in self.layers:
            h = layer(cat_code(h, c))
        return self.to_out(cat_code(h, c)).flatten(1)


class DomainClassifier(nn.Module):
    """``C(y (B,1,Q,N)) -> (B, K, P)``: per-patch domain logits (Q and N halved ``n_down`` times, then
    a last layer over all remaining rows)."""

    def __init__(self, dim_q: int, num_domains: int, dim: int = 32, max_dim: int = 32, n_down: int = 3):
        super().__init__()
        self.dim_q = dim_q
        self.multiple = 2**n_down
        rows = padded_size(dim_q, self.multiple) // self.multiple
        dims = channel_plan(dim, max_dim, n_down)
        self.trunk = nn.Sequential(
            GatedConv2d(1, dims[0], (3, 9), norm="batch"),
            *[GatedConv2d(dims[i], dims[i + 1], (4, 8), 2, (1, 3), norm="batch") for i in range(n_down)],
        )
        self.to_out = nn.Conv2d(dims[-1], num_domains, (rows, 3), (rows, 1), (0, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x (B, 1, Q, N)`` -> class logits ``(B, K, P)``, P = ⌈N / 2**n_down⌉."""
        check_rows("StarGAN-VC domain classifier", x, self.dim_q)
        return self.to_out(self.trunk(pad_to_multiple(x, self.multiple))).flatten(2)

    def probs(self, x: torch.Tensor) -> torch.Tensor:
        """Mean over patches of the per-patch class probabilities: ``(B, K)``."""
        return self.forward(x).float().softmax(dim=1).mean(dim=2)


def build_nets(cfg: ModelConfig, dim_q: int, num_domains: int) -> dict[str, nn.Module]:
    """The three StarGAN-VC nets for ``dim_q`` feature rows and ``num_domains`` domains."""
    return {
        "generator": Generator(dim_q, num_domains, cfg.dim_in, cfg.max_conv_dim, cfg.n_down, cfg.vc_bottleneck),
        "discriminator": Discriminator(dim_q, num_domains, cfg.disc_dim, cfg.disc_max_dim, cfg.disc_n_down),
        "classifier": DomainClassifier(dim_q, num_domains, cfg.disc_dim, cfg.disc_max_dim, cfg.disc_n_down),
    }


class CodeConditionedFamily(ModelFamily):
    """What StarGAN-VC and StarGAN-VC2 share: no style encoder and no F0 net; the "style" of a target
    domain is its one-hot code, conversion uses the EMA generator."""

    ema_nets = ("generator",)
    has_style_encoder = False
    uses_f0_net = False

    def build(self, cfg: Any, dim_q: int, num_domains: int) -> dict[str, nn.Module]:
        raise NotImplementedError

    @torch.no_grad()
    def style(self, nets, target: int, *, z=None, ref=None) -> torch.Tensor:
        """The one-hot code of domain ``target``: ``(1, K)``. ``z`` is ignored (no latent styles); a
        reference clip is refused: these families have no style encoder."""
        del z
        if ref is not None:
            raise ConfigError(f"a reference clip needs a style encoder; model family {self.name} has none "
                              "(give a target domain)")
        gen = nets["generator"]
        k = gen.num_domains
        if not 0 <= int(target) < k:
            raise ValueError(f"style(): target {target} is not a domain index in [0, {k})")
        device = next(gen.parameters()).device
        return one_hot(torch.tensor([int(target)], device=device), k)


@register_family("stargan_vc")
class StarGANVCFamily(CodeConditionedFamily):
    """StarGAN-VC: G(x, c) with a one-hot target code, PatchGAN D(y, c), domain classifier C(y)."""

    g_nets = ("generator",)
    d_nets = ("discriminator", "classifier")

    def build(self, cfg: Any, dim_q: int, num_domains: int) -> dict[str, nn.Module]:
        """``cfg``: the ExperimentConfig (or its ModelConfig). Keys: generator, discriminator, classifier."""
        return build_nets(model_config(cfg), dim_q, num_domains)

    def d_loss(self, nets, batch, step, cfg, aux):
        from vc.losses.stargan_vc import vc_d_loss

        return vc_d_loss(nets, batch, step, cfg, aux)

    def g_loss(self, nets, batch, step, cfg, aux):
        from vc.losses.stargan_vc import vc_g_loss

        return vc_g_loss(nets, batch, step, cfg, aux)

    def dev_losses(self, nets, batch, cfg, aux):
        from vc.losses.stargan_vc import vc_dev_losses

        return vc_dev_losses(nets, batch, cfg, aux)

    @torch.no_grad()
    def convert(self, nets, x, f0n, source, target, style, shift=None) -> torch.Tensor:
        """``x (B, 1, Q, N)``, ``style (1 or B, K)`` (the target code) -> ``(B, 1, Q, N)``.
        ``f0n`` and ``source`` are not used: G sees only the features and the target code."""
        del f0n, source, target, shift
        return nets["generator"](x, style.to(x.device).expand(x.shape[0], -1))

    @torch.no_grad()
    def judge_domain(self, nets, ref) -> torch.Tensor:
        """The domain classifier's class probabilities for ``ref (M, 1, Q, N)``, averaged over patches
        and the M crops: ``(K,)``, summing to 1."""
        return nets["classifier"].probs(ref).mean(0)
