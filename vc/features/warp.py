"""Frequency warping of WORLD's coded spectral envelope, as a linear map.

A longer vocal tract puts every formant lower: to a first approximation a speaker's envelope is
another's with the frequency axis scaled, ``S_t(f) = S_s(f / r)``. Per-dimension mean/variance
matching cannot do that (it adds one fixed filter, so every vowel keeps the source's formants),
which is why the statistical conversion leaves the voice close to the source's.

WORLD's coded envelope (``pyworld.code_spectral_envelope``) is the DCT of the log envelope sampled
at mel-spaced frequencies, so it is linear in the log envelope; scaling the frequency axis of the log
envelope is linear too (interpolation). The whole warp is therefore one ``(Q, Q)`` matrix ``W(r)`` on
coded frames: ``c' = W(r) @ c``. :func:`warp_matrix` builds it from pyworld's own decoder and coder, so
it follows whatever coding pyworld uses; :func:`choose_ratio` picks the ratio that best maps one voice's
long-term mean envelope onto another's.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from vc.features.config import FeatureConfig

#: Ratios a warp may take: 25 steps of ~2.4% from 0.75 to 1/0.75, symmetric in log, with 1 (identity)
#: at the centre, so ``RATIOS[len(RATIOS) - 1 - i] == 1 / RATIOS[i]`` (the way back of a warp).
RATIOS: np.ndarray = np.exp(np.linspace(np.log(0.75), -np.log(0.75), 25))
IDENTITY = len(RATIOS) // 2


def _warp_frame(coded: np.ndarray, ratio: float, sample_rate: int, fft_size: int) -> np.ndarray:
    import pyworld

    sp = pyworld.decode_spectral_envelope(np.ascontiguousarray(coded[None], dtype=np.float64), sample_rate, fft_size)[0]
    bins = np.arange(len(sp), dtype=np.float64)
    # S'(f) = S(f / r); frequencies beyond the band take the band edge's value.
    warped = np.exp(np.interp(np.clip(bins / ratio, 0, len(sp) - 1), bins, np.log(sp)))
    return pyworld.code_spectral_envelope(np.ascontiguousarray(warped[None]), sample_rate, len(coded))[0]


@lru_cache(maxsize=256)
def _matrix(ratio: float, sample_rate: int, dim: int) -> np.ndarray:
    from vc.features import world

    if ratio == 1.0:
        return np.eye(dim)
    n_fft = world.fft_size(sample_rate)
    zero = _warp_frame(np.zeros(dim), ratio, sample_rate, n_fft)
    cols = [_warp_frame(np.eye(dim)[i], ratio, sample_rate, n_fft) - zero for i in range(dim)]
    return np.stack(cols, axis=1)


def warp_matrix(ratio: float, cfg: FeatureConfig) -> np.ndarray:
    """``W (Q, Q)`` with ``W @ c`` the coded frame ``c`` of a log envelope whose frequency axis is
    scaled by ``ratio`` (> 1 moves formants up). Exactly the identity at 1. WORLD features only."""
    if cfg.kind != "world":
        raise ValueError(f"frequency warping works on WORLD's coded envelope, not on {cfg.kind!r} features")
    return _matrix(float(ratio), cfg.sample_rate, cfg.dim).copy()


def warp_grid(cfg: FeatureConfig) -> np.ndarray:
    """``(len(RATIOS), Q, Q)``: :func:`warp_matrix` for every ratio of :data:`RATIOS`."""
    return np.stack([warp_matrix(r, cfg) for r in RATIOS])


def mismatch(grid: np.ndarray, mean_from: np.ndarray, mean_to: np.ndarray) -> np.ndarray:
    """``(G,)`` squared distance between each warped ``mean_from (Q,)`` and ``mean_to (Q,)`` (raw
    coded units), over every dimension but the first (the level, which loudness decides)."""
    diff = np.einsum("gij,j->gi", grid, mean_from) - mean_to
    return (diff[:, 1:] ** 2).sum(axis=1)


def choose_ratio(grid: np.ndarray, mean_from: np.ndarray, mean_to: np.ndarray,
                 symmetric: bool = False) -> int:
    """Index into :data:`RATIOS` of the warp that best maps the long-term mean envelope ``mean_from``
    onto ``mean_to`` (:func:`mismatch`). ``symmetric`` also charges the inverse warp for mapping
    ``mean_to`` back onto ``mean_from``, so a pair of voices gets one ratio and its exact inverse
    whichever way it is converted."""
    cost = mismatch(grid, mean_from, mean_to)
    if symmetric:
        cost = cost + mismatch(grid, mean_to, mean_from)[::-1]
    return int(np.argmin(cost))
