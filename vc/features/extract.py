"""One entry point for every feature kind: :func:`extract` returns a :class:`Features` bundle.

``vc.features`` re-exports :func:`extract` under the same name as this module, so import from here
with ``from vc.features.extract import ...`` (``import vc.features.extract as m`` yields the function).
The extractors are imported inside the functions to keep ``import vc.features`` cheap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vc.features.config import FeatureConfig


@dataclass
class Features:
    """Frame-major features of one utterance; every array has the same frame count ``N``.

    Attributes:
        feats: ``(N, Q)`` float32, log-mel (``kind: mel``) or coded WORLD spectral envelope (``world``).
        f0: ``(N,)`` float32 Hz, 0 on unvoiced frames.
        ap: ``(N, A)`` float32 coded aperiodicity (``world`` only), else None.
    """

    feats: np.ndarray
    f0: np.ndarray
    ap: np.ndarray | None = None

    @property
    def num_frames(self) -> int:
        return int(self.feats.shape[0])

    def __post_init__(self) -> None:
        n = self.feats.shape[0]
        if self.f0.shape != (n,) or (self.ap is not None and self.ap.shape[0] != n):
            shapes = f"feats {self.feats.shape}, f0 {self.f0.shape}" + (
                f", ap {self.ap.shape}" if self.ap is not None else ""
            )
            raise ValueError(f"feature arrays disagree on the frame count: {shapes}")


def extract(wav: np.ndarray, cfg: FeatureConfig) -> Features:
    """Features of ``wav`` ``(T,)`` (at ``cfg.sample_rate``) with ``N = 1 + T // cfg.hop`` frames.

    ``kind: mel`` gives the parallel-wavegan log-mel plus F0 at the mel frame rate; ``kind: world``
    gives the coded spectral envelope, F0 and coded aperiodicity at ``cfg.frame_period``.
    """
    from vc.features import world
    from vc.features.mel import logmel

    if cfg.kind == "mel":
        return Features(feats=logmel(wav, cfg), f0=world.f0(wav, cfg))
    coded_sp, f0, coded_ap = world.analyze(wav, cfg)
    return Features(feats=coded_sp, f0=f0, ap=coded_ap)


def world_synthesize(coded_sp: np.ndarray, f0: np.ndarray, coded_ap: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """WORLD vocoder: ``coded_sp (N, Q)``, ``f0 (N,)`` Hz, ``coded_ap (N, A)`` -> float32 ``(T,)``."""
    from vc.features import world

    return world.synthesize(coded_sp, f0, coded_ap, cfg)
