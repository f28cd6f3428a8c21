"""WORLD analysis and synthesis (pyworld), and F0 extraction for both feature kinds.

Every array is put on the toolkit's frame grid: frame ``n`` sits at ``n * cfg.hop`` samples, and an
utterance of ``T`` samples has ``N = 1 + T // cfg.hop`` frames, the same count as the centred STFT of
:func:`vc.features.logmel`. pyworld's own frame count can differ by one through rounding, so F0 is
trimmed or zero-padded (unvoiced) to ``N`` before the spectral envelope is analysed at those times.
"""

from __future__ import annotations

import functools
import importlib.metadata
import sys
import types
import warnings

import numpy as np

from vc.features.config import FeatureConfig


def _import_pyworld() -> types.ModuleType:
    """Import pyworld, which reads its version through ``pkg_resources``.

    setuptools 81+ no longer ships ``pkg_resources``; when it is missing we register a stand-in that
    answers ``get_distribution(name).version`` from importlib.metadata, the only call pyworld makes,
    and remove it again so nothing else mistakes it for the real package.
    """
    if "pyworld" in sys.modules:
        return sys.modules["pyworld"]
    try:
        with warnings.catch_warnings():  # "pkg_resources is deprecated": pyworld's business, not the user's
            warnings.simplefilter("ignore", UserWarning)
            import pkg_resources  # noqa: F401

        shim = None
    except ImportError:
        shim = types.ModuleType("pkg_resources")
        shim.get_distribution = lambda name: types.SimpleNamespace(version=importlib.metadata.version(name))
        sys.modules["pkg_resources"] = shim
    try:
        import pyworld
    finally:
        if shim is not None and sys.modules.get("pkg_resources") is shim:
            del sys.modules["pkg_resources"]
    return pyworld


pyworld = _import_pyworld()


@functools.lru_cache(maxsize=8)
def fft_size(sr: int) -> int:
    """CheapTrick FFT size used for analysis and synthesis (pyworld's default for ``sr``)."""
    return int(pyworld.get_cheaptrick_fft_size(sr))


def num_frames(num_samples: int, cfg: FeatureConfig) -> int:
    """``N = 1 + T // hop``: the frame count of every feature array of a ``T``-sample clip."""
    return 1 + num_samples // cfg.hop


def _fit(a: np.ndarray, n: int) -> np.ndarray:
    """Trim or zero-pad the first axis of ``a`` to ``n``."""
    if len(a) >= n:
        return a[:n]
    pad = np.zeros((n - len(a),) + a.shape[1:], dtype=a.dtype)
    return np.concatenate([a, pad], axis=0)


def _f0_raw(x: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """F0 ``(N,)`` float64 Hz on the frame grid of ``cfg`` (0 = unvoiced); ``x`` is float64."""
    fp = cfg.frame_period_ms
    if cfg.f0_method == "harvest":
        f0, _ = pyworld.harvest(x, cfg.sample_rate, f0_floor=cfg.f0_floor, f0_ceil=cfg.f0_ceil, frame_period=fp)
    else:
        f0, t = pyworld.dio(x, cfg.sample_rate, f0_floor=cfg.f0_floor, f0_ceil=cfg.f0_ceil, frame_period=fp)
        f0 = pyworld.stonemask(x, f0, t, cfg.sample_rate)
    return _fit(f0, num_frames(len(x), cfg))


def f0(wav: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """F0 of ``wav`` ``(T,)`` in Hz, ``(N,)`` float32, 0 on unvoiced frames (``cfg.f0_method``)."""
    x = np.ascontiguousarray(wav, dtype=np.float64)
    return _f0_raw(x, cfg).astype(np.float32)


def analyze(wav: np.ndarray, cfg: FeatureConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """WORLD analysis of ``wav`` ``(T,)``.

    Returns:
        ``coded_sp (N, cfg.num_sp)``, ``f0 (N,)`` Hz, ``coded_ap (N, A)`` (``A`` depends on the
        sampling rate: 1 band at 16 kHz, 3 at 24 kHz), all float32.
    """
    x = np.ascontiguousarray(wav, dtype=np.float64)
    sr = cfg.sample_rate
    f0_ = _f0_raw(x, cfg)
    t = np.arange(len(f0_), dtype=np.float64) * (cfg.hop / sr)
    size = fft_size(sr)
    sp = pyworld.cheaptrick(x, f0_, t, sr, fft_size=size)
    ap = pyworld.d4c(x, f0_, t, sr, fft_size=size)
    coded_sp = pyworld.code_spectral_envelope(sp, sr, cfg.num_sp)
    coded_ap = pyworld.code_aperiodicity(ap, sr)
    return coded_sp.astype(np.float32), f0_.astype(np.float32), coded_ap.astype(np.float32)


def decode_envelope(coded_sp: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """Coded envelope ``(N, Q)`` -> WORLD's power spectral envelope ``(N, fft_size // 2 + 1)`` float64."""
    sr = cfg.sample_rate
    return pyworld.decode_spectral_envelope(np.ascontiguousarray(coded_sp, dtype=np.float64), sr, fft_size(sr))


def synthesize(coded_sp: np.ndarray, f0: np.ndarray, coded_ap: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """WORLD vocoder: ``coded_sp (N, Q)``, ``f0 (N,)`` Hz, ``coded_ap (N, A)`` -> ``(T,)`` float32 audio.

    ``T`` is about ``(N - 1) * cfg.hop`` samples (pyworld rounds to its own frame period).
    """
    sr = cfg.sample_rate
    size = fft_size(sr)
    n = min(len(coded_sp), len(f0), len(coded_ap))
    sp = decode_envelope(coded_sp[:n], cfg)
    ap = pyworld.decode_aperiodicity(np.ascontiguousarray(coded_ap[:n], dtype=np.float64), sr, size)
    f0_ = np.ascontiguousarray(f0[:n], dtype=np.float64)
    wav = pyworld.synthesize(f0_, sp, ap, sr, frame_period=cfg.frame_period_ms)
    return wav.astype(np.float32)


def spectral_envelope(wav: np.ndarray, cfg: FeatureConfig, f0: np.ndarray | None = None) -> np.ndarray:
    """WORLD (CheapTrick) power spectral envelope of ``wav`` ``(T,)`` on the frame grid of ``cfg``.

    ``f0`` is ``(N,)`` Hz as returned by :func:`f0` with the same ``cfg`` (extracted when None).

    Returns:
        ``(N, fft_size(sr) // 2 + 1)`` float64 power, bins linear from 0 Hz to ``sr / 2``.
    """
    x = np.ascontiguousarray(wav, dtype=np.float64)
    f0_ = _f0_raw(x, cfg) if f0 is None else np.ascontiguousarray(f0, dtype=np.float64)
    t = np.arange(len(f0_), dtype=np.float64) * (cfg.hop / cfg.sample_rate)
    return pyworld.cheaptrick(x, f0_, t, cfg.sample_rate, fft_size=fft_size(cfg.sample_rate))
