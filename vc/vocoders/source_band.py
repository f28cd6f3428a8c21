"""The source's own high band under a WORLD conversion (``vocoder.source_band_hz``).

WORLD synthesises the converted envelope on a pulse-and-noise excitation; above a few kHz that
excitation is what DNSMOS's P.808 model hears most (docs/quality.md, items 23 and 24). This keeps
WORLD's output below ``cutoff_hz`` and, above it, takes the source's own waveform instead:

1. its pitch is moved to the converted F0 contour by PSOLA (Praat's overlap-add resynthesis, through
   ``praat-parselmouth``), which keeps the source's excitation and formants;
2. that signal is analysed by WORLD (F0, CheapTrick envelope, coded like the features), and each
   frame is filtered in the STFT domain by the converted envelope over that envelope;
3. the two are joined by a smooth crossover in the same STFT.

The result has the source's length. The conversion's level changes (the silence gate, the kNN
base's level) are in the converted envelope, so the filter carries them into the high band too.
"""

from __future__ import annotations

import numpy as np

from vc.features import world
from vc.features.config import FeatureConfig

MAX_GAIN_DB = 40.0
"""The filter's gain is clipped to this many dB either way (an envelope near zero in one of the two
would otherwise boost noise without bound)."""
CROSSOVER_WIDTH_HZ = 150.0
"""Width of the logistic crossover around ``cutoff_hz``."""
WINDOW = 400
"""STFT window (samples at 16 kHz: 25 ms); the FFT size is WORLD's."""


def psola(wav: np.ndarray, f0: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """``wav (T,)`` with its pitch moved to ``f0 (N,)`` Hz (0: unvoiced, left as it is) by Praat's
    PSOLA; the input itself when Praat finds nothing to move (no voiced frame, or a clip too short
    for its pitch analysis)."""
    import parselmouth
    from parselmouth.praat import call

    voiced = f0 > 0
    if not voiced.any():
        return wav
    sr = cfg.sample_rate
    snd = parselmouth.Sound(np.asarray(wav, dtype=np.float64), sampling_frequency=sr)
    try:
        manipulation = call(snd, "To Manipulation", cfg.frame_period_ms / 1000.0, cfg.f0_floor, cfg.f0_ceil)
        tier = call("Create PitchTier", "target", snd.xmin, snd.xmax)
        times = np.arange(len(f0)) * (cfg.hop / sr)
        for t, hz in zip(times[voiced], f0[voiced]):
            call(tier, "Add point", float(t), float(hz))
        call([tier, manipulation], "Replace pitch tier")
        out = call(manipulation, "Get resynthesis (overlap-add)").values[0]
    except parselmouth.PraatError:
        return wav
    out = np.asarray(out, dtype=np.float32)[: len(wav)]
    return np.pad(out, (0, len(wav) - len(out)))


def source_band(converted: np.ndarray, source: np.ndarray, coded_sp: np.ndarray, f0: np.ndarray,
                cfg: FeatureConfig, cutoff_hz: float) -> np.ndarray:
    """WORLD's conversion ``converted (T',)`` below ``cutoff_hz`` joined to the source's filtered
    high band above it.

    Args:
        converted: the WORLD synthesis of the conversion.
        source: the source waveform ``(T,)`` at ``cfg.sample_rate`` that was converted.
        coded_sp: the converted coded envelope ``(N, Q)``, denormalised, as WORLD synthesised it.
        f0: the converted F0 ``(N,)`` Hz, as WORLD synthesised it.
    Returns:
        float32 ``(T,)``.
    """
    import librosa

    sr, hop = cfg.sample_rate, cfg.hop
    size = world.fft_size(sr)
    shifted = psola(source, f0, cfg)
    own = world.pyworld.code_spectral_envelope(world.spectral_envelope(shifted, cfg), sr, cfg.num_sp)
    n = min(len(own), len(coded_sp))
    gain_db = 10.0 * np.log10(np.maximum(world.decode_envelope(coded_sp[:n], cfg), 1e-20)
                              / np.maximum(world.decode_envelope(own[:n], cfg), 1e-20))
    gain = 10.0 ** (np.clip(gain_db, -MAX_GAIN_DB, MAX_GAIN_DB) / 20.0)  # (n, size // 2 + 1), amplitude

    converted = np.pad(converted[: len(source)], (0, max(0, len(source) - len(converted))))
    stft = dict(n_fft=size, hop_length=hop, win_length=min(WINDOW, size), window="hann", center=True)
    high = librosa.stft(np.asarray(shifted, dtype=np.float32), **stft)
    low = librosa.stft(np.asarray(converted, dtype=np.float32), **stft)
    m = min(high.shape[1], low.shape[1], n)
    freqs = librosa.fft_frequencies(sr=sr, n_fft=size)
    w = 1.0 / (1.0 + np.exp((freqs - cutoff_hz) / CROSSOVER_WIDTH_HZ))
    mixed = w[:, None] * low[:, :m] + (1.0 - w[:, None]) * gain[:m].T * high[:, :m]
    out = librosa.istft(mixed, hop_length=hop, win_length=stft["win_length"], window="hann", center=True,
                        length=len(source))
    return out.astype(np.float32)
