"""Griffin-Lim for mel models without a trained vocoder: quick to set up, audibly phasey.

The log-mel is undone step by step with librosa, on exactly the analysis settings of
:func:`vc.features.logmel`: ``log_base**x`` gives the magnitude mel, a non-negative least-squares fit
through the same Slaney mel basis gives the linear magnitude (``mel_to_stft``, power 1), and
``griffinlim`` estimates a phase with the FeatureConfig's FFT, hop, window length and window.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import librosa
import numpy as np

from vc.errors import ConfigError
from vc.features.config import FeatureConfig
from vc.vocoders.registry import Vocoder, fit_length, to_numpy

if TYPE_CHECKING:
    from vc.features.stats import Stats


class GriffinLimVocoder(Vocoder):
    name = "griffinlim"

    def __init__(self, features: FeatureConfig, stats: Stats, n_iter: int = 32, seed: int = 0) -> None:
        if features.kind != "mel":
            raise ConfigError(
                f"the griffinlim vocoder inverts log-mel features, but features.kind is {features.kind}; "
                "use the world vocoder for WORLD features"
            )
        if n_iter < 1:
            raise ConfigError(f"vocoder.griffinlim_iters must be at least 1, got {n_iter}")
        super().__init__(features, stats)
        self.n_iter = n_iter
        self.seed = seed  # the random initial phase is seeded so a conversion is reproducible

    def magnitude(self, feats: Any) -> np.ndarray:
        """Linear STFT magnitude ``(n_fft // 2 + 1, N)`` of normalised log-mel ``feats (N, Q)``."""
        cfg = self.features
        logmel = self.stats.denormalize(to_numpy(feats, np.float64))
        mel = np.power(cfg.log_base, logmel).T  # (Q, N) magnitude mel
        return librosa.feature.inverse.mel_to_stft(
            mel, sr=cfg.sample_rate, n_fft=cfg.n_fft, power=1.0, fmin=cfg.fmin, fmax=cfg.fmax
        )

    def synthesize(self, feats: Any, *, f0: Any = None, ap: Any = None) -> np.ndarray:
        """``feats (N, Q)`` normalised log-mel -> ``(N * hop,)`` float32."""
        cfg = self.features
        n = feats.shape[0]
        wav = librosa.griffinlim(
            self.magnitude(feats),
            n_iter=self.n_iter,
            hop_length=cfg.hop_size,
            win_length=cfg.win_length,
            n_fft=cfg.n_fft,
            window=cfg.window,
            center=True,
            pad_mode="reflect",
            random_state=self.seed,
        )
        # The inverse STFT of N centred frames spans (N - 1) hops; the last hop is padded with silence.
        return fit_length(wav.astype(np.float32), n * cfg.hop_size)
