"""Multi-domain discriminators, chosen by ``model.discriminator`` from a small registry.

Every discriminator maps a feature image ``x (B, 1, Q, N)`` to per-patch, per-domain logits. It
shares one trunk between two 1×1 heads:

* real/fake: ``D.patch_logits(x) -> (B, K, P)``, one logit per patch (P = q·n of the last feature map)
  and domain, which the losses judge patch by patch (PatchGAN, ``loss.adv_per_patch``);
  ``D(x, y) -> (B,)`` and ``D.all_logits(x) -> (B, K)`` are their means over the patches;
* source classifier: ``D.classify(x) -> (B, K)``, which domain a (converted) clip came from
  (StarGAN v2-VC's adversarial source classifier), from the patch-averaged features.

``D.patch_logits_and_classes(x[, s])`` returns both (and the style logits below, given a style)
from one trunk pass (the losses use it).

With ``model.disc_projection`` a third head judges a clip *given a style code* ``s (B, S)``
(projection discriminator, Miyato & Koyama 2018): ``D.style_logits(x, s) -> (B, P)`` is, per patch,
a 1×1 real/fake logit plus the inner product of the patch's features with a linear projection of
``s``. It is not tied to the training domains, so it can train a style space shared by every
speaker (any-to-any conversion).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from vc.errors import ConfigError
from vc.models.config import ModelConfig
from vc.models.layers import LRELU_SLOPE, GatedConv2d, ResBlk, pad_to_multiple

_DISCRIMINATORS: dict[str, Callable[[ModelConfig, int], nn.Module]] = {}


def register_discriminator(name: str):
    """Decorator: ``@register_discriminator("name")`` on a class built as ``cls(model_cfg, num_domains)``."""

    def wrap(cls):
        _DISCRIMINATORS[name] = cls
        return cls

    return wrap


def discriminator_names() -> list[str]:
    return sorted(_DISCRIMINATORS)


def build_discriminator(cfg: ModelConfig, num_domains: int) -> nn.Module:
    """The discriminator named by ``cfg.discriminator``; an unknown name is a ConfigError."""
    if cfg.discriminator not in _DISCRIMINATORS:
        raise ConfigError(
            f"model.discriminator: unknown discriminator {cfg.discriminator!r}; "
            f"choose one of {', '.join(discriminator_names())}"
        )
    return _DISCRIMINATORS[cfg.discriminator](cfg, num_domains)


def _channels(base: int, top: int, stages: int) -> list[int]:
    dims = [base]
    for _ in range(stages):
        dims.append(min(dims[-1] * 2, top))
    return dims


class _PatchDiscriminator(nn.Module):
    """Trunk (subclasses) + real/fake and classifier heads, each ``(B, K, q, n)`` averaged over patches."""

    trunk: nn.Module
    min_size: int = 1

    def _heads(self, dim: int, num_domains: int, cfg: ModelConfig) -> None:
        self.adv_head = nn.Conv2d(dim, num_domains, 1)
        self.cls_head = nn.Conv2d(dim, num_domains, 1)
        if cfg.disc_projection:
            self.style_head = nn.Conv2d(dim, 1, 1)
            self.style_proj = nn.Linear(cfg.style_dim, dim, bias=False)

    @property
    def has_projection(self) -> bool:
        return hasattr(self, "style_proj")

    def style_logits(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """Style-conditioned real/fake logit of every patch, ``(B, P)``, for ``x (B, 1, Q, N)`` judged
        as speech in the style ``s (B, style_dim)`` (needs ``model.disc_projection``)."""
        return self._style_logits(self._features(x), s)

    def _style_logits(self, h: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        if not self.has_projection:
            raise ValueError("style_logits() needs a discriminator built with model.disc_projection")
        proj = self.style_proj(s.to(h.dtype))[:, :, None, None]  # (B, C, 1, 1)
        return (self.style_head(h)[:, 0] + (h * proj).sum(dim=1)).flatten(1)

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        return self.trunk(pad_to_multiple(x, 1, minimum=self.min_size))

    def patch_logits_and_classes(self, x: torch.Tensor, s: torch.Tensor | None = None):
        """``x (B, 1, Q, N)`` -> real/fake logits per patch ``(B, K, P)`` and source-class logits
        ``(B, K)``; given a style ``s (B, style_dim)``, also :meth:`style_logits` ``(B, P)``, all
        from one trunk pass."""
        h = self._features(x)
        out = self.adv_head(h).flatten(2), self.cls_head(h).mean(dim=(2, 3))
        return out if s is None else (*out, self._style_logits(h, s))

    def logits_and_classes(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x (B, 1, Q, N)`` -> patch-averaged real/fake logits ``(B, K)`` and source-class logits ``(B, K)``."""
        adv, cls = self.patch_logits_and_classes(x)
        return adv.mean(dim=2), cls

    def patch_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Real/fake logit of every patch and domain, ``(B, K, P)``."""
        return self.adv_head(self._features(x)).flatten(2)

    def all_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Real/fake logit of every domain, ``(B, K)``."""
        return self.adv_head(self._features(x)).mean(dim=(2, 3))

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """Source-domain classifier logits, ``(B, K)``."""
        return self.cls_head(self._features(x)).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Real/fake logit read at domain ``y (B,)``: ``(B,)``."""
        logits = self.all_logits(x)
        return logits[torch.arange(x.shape[0], device=x.device), y.to(x.device).long()]


@register_discriminator("gated_patchgan")
class GatedPatchGAN(_PatchDiscriminator):
    """Gated-convolution PatchGAN (StarGAN-VC2 style): GLU convs, ``disc_n_down`` stride-2 stages.

    Stride-2 convs with padding handle any Q and N, so no padding is needed.
    """

    def __init__(self, cfg: ModelConfig, num_domains: int):
        super().__init__()
        dims = _channels(cfg.disc_dim, cfg.disc_max_dim, cfg.disc_n_down)
        layers: list[nn.Module] = [GatedConv2d(1, dims[0], 3, 1)]
        layers += [GatedConv2d(dims[i], dims[i + 1], 3, 2) for i in range(cfg.disc_n_down)]
        layers.append(GatedConv2d(dims[-1], dims[-1], 3, 1))
        self.trunk = nn.Sequential(*layers)
        self._heads(dims[-1], num_domains, cfg)


@register_discriminator("resnet")
class ResNetDiscriminator(_PatchDiscriminator):
    """StarGAN v2's residual discriminator: downsampling residual blocks with leaky ReLU, then a
    3×3 conv and the 1×1 heads (patch logits averaged, so any clip length works)."""

    def __init__(self, cfg: ModelConfig, num_domains: int):
        super().__init__()
        dims = _channels(cfg.disc_dim, cfg.disc_max_dim, cfg.disc_n_down)
        # average pooling needs at least 2 rows/frames at every stage
        self.min_size = 2**cfg.disc_n_down
        layers: list[nn.Module] = [nn.Conv2d(1, dims[0], 3, 1, 1)]
        layers += [ResBlk(dims[i], dims[i + 1], downsample=True) for i in range(cfg.disc_n_down)]
        layers += [nn.LeakyReLU(LRELU_SLOPE), nn.Conv2d(dims[-1], dims[-1], 3, 1, 1), nn.LeakyReLU(LRELU_SLOPE)]
        self.trunk = nn.Sequential(*layers)
        self._heads(dims[-1], num_domains, cfg)
