"""StarGAN v2 for voice conversion: generator, mapping network, style encoder, and the family.

Nets (sizes from :class:`~vc.models.config.ModelConfig`):

* :class:`Generator` ``G(x (B,1,Q,N), s (B,S), f0n (B,N) | None) -> (B,1,Q,N)``: an instance-norm
  residual encoder that halves Q and N ``n_down`` times, bottleneck blocks, and an AdaIN residual
  decoder conditioned on the style ``s``. With ``f0_condition`` it also sees the source's
  normalised log-F0 and voiced mask (two input channels, and again at the bottleneck).
* :class:`MappingNetwork` ``F(z (B,latent_dim), y (B,)) -> (B,S)``.
* :class:`StyleEncoder` ``E(x (B,1,Q,N'), y (B,)) -> (B,S)`` over a reference clip of any length.
* a discriminator from :mod:`vc.models.discriminators`.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vc.models.config import ModelConfig
from vc.models.discriminators import build_discriminator
from vc.models.knn import FramePool
from vc.models.layers import LRELU_SLOPE, AdainResBlk, DomainHeads, ResBlk, pad_to_multiple
from vc.models.moments import DomainMoments, Shift, WarpedMoments, apply_shift
from vc.models.registry import ModelFamily, register_family

#: A residual generator's last layer starts at this fraction of its default initialisation.
RESIDUAL_INIT_SCALE = 0.1


def _channels(base: int, top: int, stages: int) -> list[int]:
    dims = [base]
    for _ in range(stages):
        dims.append(min(dims[-1] * 2, top))
    return dims


def _model_cfg(cfg: Any) -> ModelConfig:
    """Accept an ExperimentConfig or a bare ModelConfig."""
    return cfg.model if hasattr(cfg, "model") else cfg


class Generator(nn.Module):
    """Encoder–decoder over feature images; input and output have exactly the same shape."""

    def __init__(
        self,
        dim_in: int = 64,
        max_conv_dim: int = 512,
        n_down: int = 2,
        n_bottleneck: int = 2,
        style_dim: int = 64,
        f0_condition: bool = True,
        residual: bool = False,
    ):
        super().__init__()
        self.n_down = n_down
        self.f0_condition = f0_condition
        self.residual = residual
        dims = _channels(dim_in, max_conv_dim, n_down)
        n_cond = 2 if f0_condition else 0  # normalised log-F0 and voiced mask
        self.stem = nn.Conv2d(1 + n_cond, dim_in, 3, 1, 1)
        self.encode = nn.ModuleList(
            [ResBlk(dims[i], dims[i + 1], normalize=True, downsample=True) for i in range(n_down)]
            + [ResBlk(dims[-1], dims[-1], normalize=True) for _ in range(n_bottleneck)]
        )
        # Pitch again at the bottleneck: the encoder's instance norms can wash out the contour.
        self.f0_inject = nn.Conv2d(n_cond, dims[-1], (1, 3), 1, (0, 1)) if f0_condition else None
        self.decode = nn.ModuleList(
            [AdainResBlk(dims[-1], dims[-1], style_dim) for _ in range(n_bottleneck)]
            + [AdainResBlk(dims[i + 1], dims[i], style_dim, upsample=True) for i in reversed(range(n_down))]
        )
        self.to_out = nn.Sequential(
            nn.InstanceNorm2d(dim_in, affine=True), nn.LeakyReLU(LRELU_SLOPE), nn.Conv2d(dim_in, 1, 1)
        )
        if residual:
            # The output is the input plus a correction that starts small. Not at exactly zero: a zero
            # last layer passes no gradient to the layers before it, and under the GAN's noisy
            # gradients its weights then random-walk near zero for thousands of steps (measured: a
            # correction of 3e-4 after 1000 steps), so the generator never leaves its base.
            with torch.no_grad():
                self.to_out[-1].weight.mul_(RESIDUAL_INIT_SCALE)
                self.to_out[-1].bias.zero_()

    def forward(self, x: torch.Tensor, s: torch.Tensor, f0n: torch.Tensor | None = None) -> torch.Tensor:
        """``x (B, 1, Q, N)``, ``s (B, style_dim)``, ``f0n (B, N)`` (0 on unvoiced frames; None: all
        unvoiced) -> ``(B, 1, Q, N)``. Q and N may be anything: the input is padded to a multiple of
        ``2**n_down`` and the output cropped back. A ``residual`` generator returns ``x`` plus its output."""
        if x.dim() != 4 or x.shape[1] != 1:
            raise ValueError(f"Generator expects x of shape (B, 1, Q, N), got {tuple(x.shape)}")
        b, _, q, n = x.shape
        x_in = x
        multiple = 2**self.n_down
        cond = None
        if self.f0_condition:
            if f0n is None:
                f0n = x.new_zeros(b, n)
            if f0n.shape != (b, n):
                raise ValueError(f"Generator: f0n must be (B, N) = {(b, n)} to match x, got {tuple(f0n.shape)}")
            f0n = f0n.to(x.dtype)
            # The dataset marks unvoiced frames with exactly 0, so the mask can be recovered here and
            # convert() needs no extra argument.
            cond = torch.stack([f0n, (f0n != 0).to(x.dtype)], dim=1)[:, :, None, :]  # (B, 2, 1, N)
            x = torch.cat([x, cond.expand(b, 2, q, n)], dim=1)
        h = self.stem(pad_to_multiple(x, multiple))
        for block in self.encode:
            h = block(h)
        if cond is not None:
            cond = pad_to_multiple(cond, multiple)[:, :, :1]  # pad frames only
            pooled = F.avg_pool2d(cond, (1, multiple)) if multiple > 1 else cond
            h = h + self.f0_inject(pooled.to(h.dtype))
        for block in self.decode:
            h = block(h, s)
        out = self.to_out(h)[:, :, :q, :n]
        return out + x_in if self.residual else out


class MappingNetwork(nn.Module):
    """``z (B, latent_dim)`` → shared ReLU MLP → per-domain head → style ``(B, style_dim)``."""

    def __init__(self, latent_dim: int, style_dim: int, num_domains: int, hidden: int = 512, layers: int = 4):
        super().__init__()
        self.latent_dim = latent_dim
        mlp: list[nn.Module] = [nn.Linear(latent_dim, hidden), nn.ReLU()]
        for _ in range(layers - 1):
            mlp += [nn.Linear(hidden, hidden), nn.ReLU()]
        self.shared = nn.Sequential(*mlp)
        self.heads = DomainHeads(hidden, style_dim, num_domains, hidden=hidden)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``z (B, latent_dim)``, ``y (B,)`` long -> ``(B, style_dim)``."""
        return self.heads(self.shared(z), y)


class StyleEncoder(nn.Module):
    """Residual CNN over a reference clip, global average pooling, then a linear head: one per domain
    (``shared=False``, the paper), or one for every clip (``shared=True``: ``y`` is ignored, so the
    style of a speaker never trained on can be read).

    Clips shorter than ``2**n_down`` frames (or rows) are padded by repeating the last one.
    """

    def __init__(self, dim_in: int, max_conv_dim: int, style_dim: int, num_domains: int, n_down: int = 4,
                 shared: bool = False):
        super().__init__()
        self.shared = shared
        self.min_size = 2**n_down
        dims = _channels(dim_in, max_conv_dim, n_down)
        self.trunk = nn.Sequential(
            nn.Conv2d(1, dim_in, 3, 1, 1),
            *[ResBlk(dims[i], dims[i + 1], downsample=True) for i in range(n_down)],
            nn.LeakyReLU(LRELU_SLOPE),
            nn.Conv2d(dims[-1], dims[-1], 3, 1, 1),
            nn.LeakyReLU(LRELU_SLOPE),
        )
        if shared:
            self.head = nn.Linear(dims[-1], style_dim)
        else:
            self.heads = DomainHeads(dims[-1], style_dim, num_domains)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """``x (B, 1, Q, N)``, ``y (B,)`` long (not read by a shared head; required otherwise) -> ``(B, style_dim)``."""
        h = self.trunk(pad_to_multiple(x, 1, minimum=self.min_size)).mean(dim=(2, 3))
        if self.shared:
            return self.head(h)
        if y is None:
            raise ValueError("StyleEncoder: a per-domain style head needs the domain y")
        return self.heads(h, y)


def build_nets(cfg: ModelConfig, dim_q: int, num_domains: int, feature_kind: str = "mel") -> dict[str, nn.Module]:
    """The four StarGAN v2 nets, plus ``moments`` (:class:`~vc.models.moments.DomainMoments`, buffers
    only) when the generator refines the statistical conversion, and ``pool``
    (:class:`~vc.models.knn.FramePool`) on the kNN base. ``feature_kind`` (``features.kind``) picks the
    kNN base's moments (warped on WORLD features) and how it keeps each frame's level."""
    nets: dict[str, nn.Module] = {
        "generator": Generator(
            cfg.dim_in, cfg.max_conv_dim, cfg.n_down, cfg.n_bottleneck, cfg.style_dim, cfg.f0_condition,
            residual=cfg.generator_base != "none",
        ),
        "mapping": MappingNetwork(
            cfg.latent_dim, cfg.style_dim, num_domains, cfg.mapping_hidden, cfg.mapping_layers
        ),
        "style_encoder": StyleEncoder(
            cfg.style_dim_in, cfg.max_conv_dim, cfg.style_dim, num_domains, cfg.style_n_down,
            shared=cfg.style_head == "shared",
        ),
        "discriminator": build_discriminator(cfg, num_domains),
    }
    warped = cfg.generator_base == "warped" or (cfg.generator_base == "knn" and feature_kind == "world")
    if warped:
        nets["moments"] = WarpedMoments(num_domains, dim_q)
    elif cfg.generator_base in ("statistical", "knn"):
        nets["moments"] = DomainMoments(num_domains, dim_q)
    if cfg.generator_base == "knn":
        nets["pool"] = FramePool(num_domains, dim_q, feature_kind, cfg.knn_k, cfg.knn_context, cfg.knn_smooth,
                                 cfg.knn_pool_frames, cfg.knn_iters, cfg.knn_level)
    return nets


def generator_input(nets, x: torch.Tensor, y_src: torch.Tensor | None, y_tgt: torch.Tensor | None,
                    shift: Shift | None = None, voiced: torch.Tensor | None = None,
                    pool: tuple[torch.Tensor, ...] | None = None, intonation: bool = False):
    """What the generator converts: ``x (B, 1, Q, N)`` itself, or with ``nets["moments"]`` its
    statistical conversion from ``y_src`` to ``y_tgt (B,)`` (or by an explicit ``shift``); with
    ``nets["pool"]`` plus the kNN correction towards ``y_tgt``'s frames (or an explicit ``pool``),
    which needs ``voiced (B, N)``. ``intonation``: return ``(input, intonation)``, the second the
    target's z-scored log-F0 ``(B, N)`` from the same matches (:meth:`FramePool.correction`), None
    without a kNN base whose pool kept its pitch."""
    if "moments" not in nets:
        return (x, None) if intonation else x
    base = _statistical(nets, x, y_src, y_tgt, shift)
    if "pool" not in nets:
        return (base, None) if intonation else base
    if voiced is None:
        raise ValueError("the kNN base needs the voiced mask of the frames")
    if pool is None and y_tgt is None:
        raise ValueError("the kNN base needs the target domains or a pool of target frames")
    if not intonation:
        return base + nets["pool"].correction(base, voiced, targets=y_tgt, pool=pool)
    r, z = nets["pool"].correction(base, voiced, targets=y_tgt, pool=pool, intonation=True)
    return base + r, z


def _statistical(nets, x: torch.Tensor, y_src: torch.Tensor | None, y_tgt: torch.Tensor | None,
                 shift: Shift | None) -> torch.Tensor:
    """The statistical (or warped) base of ``x``: moved from ``y_src``'s moments to ``y_tgt``'s, or by ``shift``."""
    if shift is None:
        if y_src is None or y_tgt is None:
            raise ValueError("a generator on the statistical base needs the source and target domains or a shift")
        shift = nets["moments"].shift(y_src, y_tgt)
    return apply_shift(x, shift)


def _domain(target: int, batch: int, device: torch.device) -> torch.Tensor:
    return torch.full((batch,), int(target), dtype=torch.long, device=device)


@register_family("stargan_v2")
class StarGANv2Family(ModelFamily):
    """StarGAN v2-VC: latent- and reference-guided styles, AdaIN generator, multi-domain D."""

    g_nets = ("generator", "mapping", "style_encoder")
    d_nets = ("discriminator",)
    ema_nets = ("generator", "mapping", "style_encoder")
    has_style_encoder = True
    has_strength = True
    uses_f0_net = True

    def build(self, cfg: Any, dim_q: int, num_domains: int) -> dict[str, nn.Module]:
        """``cfg``: the ExperimentConfig (or its ModelConfig). Keys: generator, mapping,
        style_encoder, discriminator [, moments]."""
        features = getattr(cfg, "features", None)
        return build_nets(_model_cfg(cfg), dim_q, num_domains, getattr(features, "kind", "mel"))

    def init_from_stats(self, nets, stats, domains: list[str], dump=None) -> None:
        """Fill ``nets["moments"]`` (statistical base) from the corpus statistics and ``nets["pool"]``
        (kNN base) from the training frames of ``dump``."""
        if "moments" in nets:
            nets["moments"].load_stats(stats, domains)
        if "pool" in nets:
            if dump is None:
                raise ValueError("the kNN base fills its frame pool from the dump: pass dump=")
            nets["pool"].fill(dump, domains)

    def lr(self, name: str, train_cfg: Any) -> float:
        """``lr_f`` for the mapping network (StarGAN v2 trains it far slower), ``lr_d`` for D."""
        if name == "mapping":
            return train_cfg.lr_f
        return super().lr(name, train_cfg)

    def d_loss(self, nets, batch, step, cfg, aux):
        from vc.losses.stargan_v2 import d_loss

        return d_loss(nets, batch, step, cfg, aux)

    def g_loss(self, nets, batch, step, cfg, aux):
        from vc.losses.stargan_v2 import g_loss

        return g_loss(nets, batch, step, cfg, aux)

    def dev_losses(self, nets, batch, cfg, aux):
        from vc.losses.stargan_v2 import dev_losses

        return dev_losses(nets, batch, cfg, aux)

    @torch.no_grad()
    def style(self, nets, target: int, *, z=None, ref=None) -> torch.Tensor:
        """Style code ``(1, style_dim)`` for domain ``target``: from a reference ``ref (M, 1, Q, N)``
        (the M crops' styles are averaged), else from latent ``z (M, latent_dim)`` (averaged), else
        from one fresh ``torch.randn`` latent."""
        if z is not None and ref is not None:
            raise ValueError("style(): give either z or ref, not both")
        if ref is not None:
            enc = nets["style_encoder"]
            ref = ref.to(next(enc.parameters()).device)
            return enc(ref, _domain(target, ref.shape[0], ref.device)).mean(0, keepdim=True)
        mapping = nets["mapping"]
        device = next(mapping.parameters()).device
        z = torch.randn(1, mapping.latent_dim, device=device) if z is None else z.to(device)
        return mapping(z, _domain(target, z.shape[0], device)).mean(0, keepdim=True)

    @torch.no_grad()
    def convert(self, nets, x, f0n, source, target, style, shift: Shift | None = None,
                strength: float = 1.0, pool: tuple[torch.Tensor, ...] | None = None, intonation: bool = False):
        """``x (B, 1, Q, N)``, ``f0n (B, N)``, ``style (1 or B, style_dim)`` -> ``(B, 1, Q, N)``.

        The style carries the target. On the statistical base the domains ``source``/``target``
        (indices) give the shift, or ``shift`` does (a source of unknown domain: its own moments); the
        kNN base matches against ``target``'s frames, or ``pool`` (a reference clip's own frames).
        ``strength`` scales what the generator changes: 1 is its output, 0 its input (the statistical
        conversion on that base, else the source itself), values between interpolate. ``intonation``:
        return ``(output, intonation)`` (:func:`generator_input`; ``pool`` then may carry the clip's
        ``lf0z`` as a third element), for the converter's ``model.knn_intonation``."""
        b = x.shape[0]
        if "moments" in nets and shift is None:
            if source is None or source < 0:
                raise ValueError("convert(): the statistical base needs the source domain or a shift")
            dev = nets["moments"].mean.device
            shift = nets["moments"].shift(_domain(source, b, dev), _domain(target, b, dev))
        y_tgt = _domain(target, b, x.device) if target is not None and target >= 0 else None
        x_in = generator_input(nets, x, None, y_tgt, shift, voiced=f0n != 0, pool=pool, intonation=intonation)
        if intonation:
            x_in, z = x_in
        y = nets["generator"](x_in, style.to(x.device).expand(b, -1), f0n)
        y = y if strength == 1.0 else x_in + strength * (y - x_in)
        return (y, z) if intonation else y

    @torch.no_grad()
    def judge_domain(self, nets, ref) -> torch.Tensor:
        """Per-domain real/fake logits of the discriminator for ``ref (M, 1, Q, N)``, averaged over
        patches and the M crops: ``(K,)``, higher = more like that domain."""
        return nets["discriminator"].all_logits(ref).float().mean(0)
