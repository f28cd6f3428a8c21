"""Silence gate: a downward expander on the level of converted frames, keyed by the source's frames.

A conversion keeps (or re-creates) the level of every source frame, so the breath noise, room tone
and analysis noise of the pauses come out at the level they had, coloured by the target voice. The
gate measures each source frame's level in dB, takes the utterance's loud level (the 95th percentile
of its frame levels) as the reference, and lowers every frame more than ``threshold_db`` below it by
``(ratio - 1)`` times the excess (at most :data:`MAX_CUT_DB`), smoothed over a few frames so that
no step is audible. Speech frames are not touched.

A frame's level is its mean log power over frequency, in dB, read from the raw (denormalised)
features: WORLD's ``c0`` (the coded envelope's gain: ``10 / ln 10`` dB per unit), or the mean of the
log-mel bins (``20 log10(base)`` dB per unit). A gain moves it without touching the spectral shape.
On real speech this key separates speech from the pauses' noise floor better than the mean power
does (docs/quality.md, silence gate), but it is the level of a smooth envelope: a pure tone, whose
power sits in one narrow band, reads as very quiet.
"""

from __future__ import annotations

import numpy as np

from vc.features.config import FeatureConfig

#: The deepest cut, dB.
MAX_CUT_DB = 30.0
#: Standard deviation of the Gaussian that smooths the cut over frames.
SMOOTH_FRAMES = 2.0
#: Percentile of the frame levels that is the utterance's loud level.
REFERENCE_PERCENTILE = 95.0


def _db_per_unit(cfg: FeatureConfig) -> float:
    if cfg.kind == "world":
        return 10.0 / np.log(10.0)
    return 20.0 * np.log10(cfg.log_base)


def frame_levels(feats: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """``(N,)`` frame levels in dB (mean log power over frequency) of raw features ``(N, Q)``."""
    feats = np.asarray(feats, dtype=np.float64)
    level = feats[:, 0] if cfg.kind == "world" else feats.mean(axis=1)
    return level * _db_per_unit(cfg)


def reference_level(levels: np.ndarray) -> float:
    """The loud level of a run of frame levels (dB)."""
    return float(np.percentile(levels, REFERENCE_PERCENTILE)) if len(levels) else 0.0


def gate_gains(levels: np.ndarray, threshold_db: float, ratio: float, reference: float | None = None) -> np.ndarray:
    """``(N,)`` gains in dB (≤ 0) for frames of ``levels`` dB: 0 above ``reference - threshold_db``,
    below it ``(ratio - 1)`` times the distance to it, at most :data:`MAX_CUT_DB`, smoothed.
    ``reference`` defaults to :func:`reference_level` of ``levels``."""
    from scipy.ndimage import gaussian_filter1d

    levels = np.asarray(levels, dtype=np.float64)
    if len(levels) == 0:
        return levels
    ref = reference_level(levels) if reference is None else float(reference)
    below = np.minimum(levels - (ref - threshold_db), 0.0)
    cut = np.maximum(below * (ratio - 1.0), -MAX_CUT_DB)
    return gaussian_filter1d(cut, SMOOTH_FRAMES, mode="nearest")


def apply_gains(feats: np.ndarray, gains_db: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """Raw features ``(N, Q)`` with each frame's level changed by ``gains_db (N,)``."""
    out = np.array(feats, dtype=np.float64, copy=True)
    step = np.asarray(gains_db, dtype=np.float64) / _db_per_unit(cfg)
    if cfg.kind == "world":
        out[:, 0] += step
    else:
        out += step[:, None]
    return out.astype(np.asarray(feats).dtype, copy=False)


def silence_gate(converted: np.ndarray, source: np.ndarray, cfg: FeatureConfig, threshold_db: float,
                 ratio: float, reference: float | None = None) -> np.ndarray:
    """``converted (N, Q)`` raw features with the gate keyed by ``source (N, Q)`` raw features."""
    gains = gate_gains(frame_levels(source, cfg), threshold_db, ratio, reference)
    return apply_gains(converted, gains, cfg)
