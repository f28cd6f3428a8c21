"""The WORLD vocoder for ``features.kind: world``.

The model converts the coded spectral envelope only; F0 comes from the source, mapped into the
target register by the converter (``stats.convert_f0``, log-Gaussian), and the coded aperiodicity is
the source's, unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from vc.errors import ConfigError
from vc.features.config import FeatureConfig
from vc.features.extract import world_synthesize
from vc.vocoders.registry import Vocoder, fit_length, to_numpy

if TYPE_CHECKING:
    from vc.features.stats import Stats


class WorldVocoder(Vocoder):
    name = "world"

    def __init__(self, features: FeatureConfig, stats: Stats) -> None:
        if features.kind != "world":
            raise ConfigError(
                f"the world vocoder needs WORLD features, but features.kind is {features.kind}; "
                "use griffinlim or pwg:<dir> for mel features"
            )
        super().__init__(features, stats)

    def synthesize(self, feats: Any, *, f0: Any = None, ap: Any = None) -> np.ndarray:
        """``feats (N, Q)`` normalised coded sp, ``f0 (N,)`` Hz, ``ap (N, A)`` -> ``(N * hop,)``."""
        if f0 is None or ap is None:
            raise ValueError("the world vocoder needs f0 (N,) and the coded aperiodicity ap (N, A)")
        n = feats.shape[0]
        f0, ap = to_numpy(f0, np.float64), to_numpy(ap, np.float64)
        if f0.shape != (n,) or ap.ndim != 2 or ap.shape[0] != n:
            raise ValueError(f"world vocoder: features {tuple(feats.shape)}, f0 {f0.shape}, ap {ap.shape} disagree")
        coded_sp = self.stats.denormalize(to_numpy(feats, np.float64))
        wav = world_synthesize(coded_sp, f0, ap, self.features)
        return fit_length(np.asarray(wav, dtype=np.float32), n * self.hop)
