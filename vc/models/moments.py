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
    """Source and target moments, each ``(B, Q)`` or ``(1, Q)`` (normalised feature space), and for
    the warped base (:class:`WarpedMoments`) the frequency warp ``(B or 1, Q, Q)`` and its inverse."""

    src_mean: torch.Tensor
    src_std: torch.Tensor
    tgt_mean: torch.Tensor
    tgt_std: torch.Tensor
    warp: torch.Tensor | None = None
    warp_back: torch.Tensor | None = None

    def reverse(self) -> Shift:
        """The shift back from the target to the source."""
        return Shift(self.tgt_mean, self.tgt_std, self.src_mean, self.src_std, self.warp_back, self.warp)


def apply_shift(x: torch.Tensor, shift: Shift) -> torch.Tensor:
    """``x (B, 1, Q, N)`` with each row's moments moved from the source's to the target's; with a
    warp, the centred frames are warped first: ``W (x - mu_src) / sd_src * sd_tgt + mu_tgt``."""

    def col(t: torch.Tensor) -> torch.Tensor:
        return t.to(device=x.device, dtype=x.dtype)[:, None, :, None]

    centred = x - col(shift.src_mean)
    if shift.warp is not None:
        centred = torch.einsum("bij,bcjn->bcin", shift.warp.to(device=x.device, dtype=x.dtype).expand(
            x.shape[0], -1, -1), centred)
    return centred / col(shift.src_std) * col(shift.tgt_std) + col(shift.tgt_mean)


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

    def between(self, src_mean: torch.Tensor, src_std: torch.Tensor, tgt_mean: torch.Tensor,
                tgt_std: torch.Tensor) -> Shift:
        """The shift between explicit moments ``(1, Q)`` each (a clip of unknown domain, a voice)."""
        return Shift(src_mean, src_std, tgt_mean, tgt_std)


class WarpedMoments(DomainMoments):
    """:class:`DomainMoments` plus a frequency warp per pair of domains (``model.generator_base: warped``).

    The statistical conversion of a frame becomes ``W (x - mu_src) / sd_src * sd_tgt + mu_tgt``: the
    centred frame is first warped along frequency (:mod:`vc.features.warp`, ``W`` in the normalised
    feature space), so the formants move towards the target's, and then its moments are matched.
    Each pair of domains gets the ratio that best maps their long-term mean envelopes onto each
    other in both directions (:func:`vc.features.warp.choose_ratio`), the way back its exact inverse;
    a source or target given by its moments alone gets the best ratio for those.

    Buffers: ``grid (G, Q, Q)`` raw-feature warps of :data:`vc.features.warp.RATIOS`, ``grid_n`` the
    same in the normalised space, ``norm_mean``/``norm_scale (Q,)`` the feature normalisation, and
    ``pair (K, K)`` the grid index of each ordered pair of domains.
    """

    def __init__(self, num_domains: int, dim_q: int):
        from vc.features.warp import IDENTITY, RATIOS

        super().__init__(num_domains, dim_q)
        g = len(RATIOS)
        eye = torch.eye(dim_q).expand(g, -1, -1).clone()
        self.register_buffer("grid", eye)
        self.register_buffer("grid_n", eye.clone())
        self.register_buffer("norm_mean", torch.zeros(dim_q))
        self.register_buffer("norm_scale", torch.ones(dim_q))
        self.register_buffer("pair", torch.full((num_domains, num_domains), IDENTITY, dtype=torch.long))

    def load_stats(self, stats, domains: list[str]) -> None:
        """Moments as :class:`DomainMoments`, the warp grid from the statistics' WORLD feature config
        and each pair's ratio from the domains' raw mean envelopes."""
        import numpy as np

        from vc.errors import ConfigError
        from vc.features.config import FeatureConfig
        from vc.features.warp import RATIOS, choose_ratio, warp_grid

        super().load_stats(stats, domains)
        cfg = FeatureConfig.from_stored(stats.features or {})
        if cfg.kind != "world":
            raise ConfigError(f"model.generator_base: warped needs WORLD features (features.kind: world), "
                              f"not {cfg.kind!r}; use generator_base: statistical")
        grid = warp_grid(cfg)
        scale = np.asarray(stats.scale, dtype=np.float64)
        self.grid.copy_(torch.from_numpy(grid))
        self.grid_n.copy_(torch.from_numpy(grid * scale[None, None, :] / scale[None, :, None]))
        self.norm_mean.copy_(torch.from_numpy(np.asarray(stats.mean, dtype=np.float64)))
        self.norm_scale.copy_(torch.from_numpy(scale))
        means = [stats.domain_moments(d, normalized=False)[0] for d in domains]
        for i, a in enumerate(means):
            for j, b in enumerate(means):
                self.pair[i, j] = len(RATIOS) // 2 if i == j else choose_ratio(grid, a, b, symmetric=True)

    def shift(self, y_src: torch.Tensor, y_tgt: torch.Tensor) -> Shift:
        idx = self.pair[y_src.to(self.pair.device).long(), y_tgt.to(self.pair.device).long()]
        return Shift(*self(y_src), *self(y_tgt), self.grid_n[idx], self.grid_n[len(self.grid_n) - 1 - idx])

    def between(self, src_mean: torch.Tensor, src_std: torch.Tensor, tgt_mean: torch.Tensor,
                tgt_std: torch.Tensor) -> Shift:
        from vc.features.warp import choose_ratio

        def raw(m: torch.Tensor):
            return (m.reshape(-1).double().cpu() * self.norm_scale.cpu() + self.norm_mean.cpu()).numpy()

        idx = choose_ratio(self.grid.double().cpu().numpy(), raw(src_mean), raw(tgt_mean))
        return Shift(src_mean, src_std, tgt_mean, tgt_std, self.grid_n[idx][None],
                     self.grid_n[len(self.grid_n) - 1 - idx][None])
