"""Log-mel spectrogram identical to parallel-wavegan's ``logmelfilterbank``.

A vocoder trained by parallel-wavegan on the same :class:`~vc.features.FeatureConfig` then accepts our
converted features unchanged. The STFT runs in float64: log10 of the magnitude mel near the 1e-10
floor magnifies float32 rounding far beyond the 1e-4 agreement we promise.
"""

from __future__ import annotations

import functools

import librosa
import numpy as np
import torch

from vc.features.config import FeatureConfig


@functools.lru_cache(maxsize=8)
def _mel_basis(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> torch.Tensor:
    """Slaney-normalised mel filters ``(n_mels, n_fft // 2 + 1)``, float64, cached per setting."""
    basis = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, dtype=np.float64)
    return torch.from_numpy(basis)


@functools.lru_cache(maxsize=8)
def _window(name: str, win_length: int) -> torch.Tensor:
    # librosa builds the analysis window with scipy's get_window(fftbins=True), i.e. periodic.
    return torch.from_numpy(librosa.filters.get_window(name, win_length, fftbins=True).astype(np.float64))


def logmel(wav: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """Log-mel spectrogram of ``wav`` ``(T,)``.

    Returns:
        ``(N, Q)`` float32 with ``N = 1 + T // cfg.hop_size`` and ``Q = cfg.num_mels``: frame ``n`` is
        centred on sample ``n * hop_size`` (reflect padding), values are
        ``log_base(max(eps, mel_basis @ |STFT|))``.
    """
    x = torch.from_numpy(np.ascontiguousarray(wav, dtype=np.float64))
    if x.numel() <= cfg.n_fft // 2:
        # Reflect padding needs more samples than the pad width; a tiny clip is zero-extended first
        # (parallel-wavegan itself refuses such clips).
        x = torch.nn.functional.pad(x, (0, cfg.n_fft // 2 + 1 - x.numel()))
    spec = torch.stft(
        x,
        n_fft=cfg.n_fft,
        hop_length=cfg.hop_size,
        win_length=cfg.win_length,
        window=_window(cfg.window, cfg.win_length),
        center=True,
        pad_mode="reflect",
        return_complex=True,
    ).abs()  # (F, N)
    mel = _mel_basis(cfg.sample_rate, cfg.n_fft, cfg.num_mels, cfg.fmin, cfg.fmax) @ spec
    mel = torch.clamp(mel, min=cfg.eps)
    if cfg.log_base == 10.0:
        out = torch.log10(mel)
    elif cfg.log_base == 2.0:
        out = torch.log2(mel)
    else:
        out = torch.log(mel) / np.log(cfg.log_base)
    n = 1 + len(wav) // cfg.hop_size
    return out.T[:n].numpy().astype(np.float32)
