"""The statistical conversion a StarGAN v2 generator can refine (``model.generator_base: statistical``).

The classic signal-processing voice conversion matches, per feature dimension, the mean and standard
deviation of the source speaker's features to the target's (on WORLD's coded envelope this is the
"per-dimension mean/variance" baseline that ``vc-eval`` scores). With ``generator_base: statistical``
the generator starts from that conversion and only learns a correction on top of it::

    x_base = (x - mu_src) / sd_src * sd_tgt + mu_tgt          # per row of the (B, 1, Q, N) image
    G(x)   = x_base + residual(x_base, style, f0)             # residual's last layer starts small

so training begins near the baseline's quality instead of at a random generator, and the adversarial
and style losses only have to move the voice the rest of the way. Moments are in the normalised
feature space (``stats.normalize``): the per-domain moments of ``stats.h5`` (voiced training frames)
through :class:`DomainMoments`, or those of one clip through :func:`clip_moments` (a source whose
domain is unknown).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

#: A standard deviation below this (normalised units) is floored: a near-constant row of one domain
#: would otherwise blow the shift up.
STD_FLOOR = 1e-2


class Shift(NamedTuple):
    """Source and target moments, each ``(B, Q)`` or ``(1, Q)`` (normalised feature space)."""

    src_mean: torch.Tensor
    src_std: torch.Tensor
    tgt_mean: torch.Tensor
    tgt_std: torch.Tensor

    def reverse(self) -> Shift:
        """The shift back from the target to the source."""
        return Shift(self.tgt_mean, self.tgt_std, self.src_mean, self.src_std)


def apply_shift(x: torch.Tensor, shift: Shift) -> torch.Tensor:
    """``x (B, 1, Q, N)`` with each row's moments moved from the source's to the target's."""

    def col(t: torch.Tensor) -> torch.Tensor:
        return t.to(device=x.device, dtype=x.dtype)[:, None, :, None]

    return (x - col(shift.src_mean)) / col(shift.src_std) * col(shift.tgt_std) + col(shift.tgt_mean)


def clip_moments(x: torch.Tensor, voiced: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row mean and standard deviation ``(1, Q)`` each of one clip ``x (1, 1, Q, N)``, over its
    voiced frames (``voiced (N,)`` 0/1) when it has at least 10 of them, else over every frame."""
    frames = x[0, 0]
    if voiced is not None and int((voiced > 0).sum()) >= 10:
        frames = frames[:, voiced.to(frames.device) > 0]
    mean = frames.mean(dim=1, keepdim=True).T
    std = frames.std(dim=1, unbiased=False, keepdim=True).T.clamp_min(STD_FLOOR)
    return mean, std


class DomainMoments(nn.Module):
    """Per-domain moments as buffers ``mean``, ``std (K, Q)`` (saved in checkpoints with the nets).

    Built empty (identity: zeros and ones) by the family and filled from ``stats.h5`` by
    :meth:`load_stats` before training starts.
    """

    def __init__(self, num_domains: int, dim_q: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(num_domains, dim_q))
        self.register_buffer("std", torch.ones(num_domains, dim_q))

    def load_stats(self, stats, domains: list[str]) -> None:
        """Fill from :class:`vc.features.stats.Stats` (its per-domain moments, normalised)."""
        for k, d in enumerate(domains):
            mean, std = stats.domain_moments(d, normalized=True)
            self.mean[k] = torch.as_tensor(mean, dtype=self.mean.dtype)
            self.std[k] = torch.as_tensor(std, dtype=self.std.dtype).clamp_min(STD_FLOOR)

    def forward(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``y (B,)`` domain indices -> ``(mean, std)``, ``(B, Q)`` each."""
        y = y.to(self.mean.device).long()
        return self.mean[y], self.std[y]

    def shift(self, y_src: torch.Tensor, y_tgt: torch.Tensor) -> Shift:
        """The shift from the domains ``y_src (B,)`` to ``y_tgt (B,)``."""
        return Shift(*self(y_src), *self(y_tgt))
