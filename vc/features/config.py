"""The single definition of the toolkit's features.

Every cache, checkpoint and vocoder carries :meth:`FeatureConfig.fingerprint`; reading one made with
different settings is refused by :func:`check_fingerprint`, which names the differing fields.

The mel defaults are exactly those of parallel-wavegan's VCTK recipe (24 kHz, FFT 2048, hop 300,
window 1200, 80 Slaney mels from 80 to 7600 Hz, log10 of the magnitude mel floored at 1e-10), so a
vocoder trained by parallel-wavegan on the same audio plugs in unchanged.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Literal

from vc.errors import FingerprintError


@dataclass
class FeatureConfig:
    kind: Literal["mel", "world"] = "mel"
    """``mel``: log-mel spectrogram (Q = num_mels). ``world``: coded WORLD spectral envelope (Q = num_sp)."""
    sample_rate: int = 24000

    # --- log-mel (parallel-wavegan's logmelfilterbank) ---
    n_fft: int = 2048
    hop_size: int = 300
    win_length: int = 1200
    window: str = "hann"
    num_mels: int = 80
    fmin: float = 80.0
    fmax: float = 7600.0
    log_base: float = 10.0
    eps: float = 1e-10

    # --- WORLD (pyworld) ---
    frame_period: float = 5.0
    """WORLD frame shift in milliseconds (used when kind is ``world``)."""
    num_sp: int = 36
    """Dimensions of the coded spectral envelope (``pyworld.code_spectral_envelope``)."""

    # --- F0: extracted for both kinds (pitch conditioning, statistics, WORLD synthesis) ---
    f0_method: Literal["harvest", "dio"] = "harvest"
    """``harvest`` is accurate; ``dio`` (refined by stonemask) is several times faster."""
    f0_floor: float = 71.0
    f0_ceil: float = 800.0

    def __post_init__(self) -> None:
        if self.sample_rate <= 0:
            raise ValueError("sample_rate must be positive")
        if self.kind == "mel":
            if self.win_length > self.n_fft:
                raise ValueError(f"win_length {self.win_length} is larger than n_fft {self.n_fft}")
            if not 0 <= self.fmin < self.fmax <= self.sample_rate / 2:
                raise ValueError(
                    f"need 0 <= fmin < fmax <= sample_rate/2, got fmin {self.fmin}, fmax {self.fmax}, "
                    f"sample_rate {self.sample_rate}"
                )
        if self.hop <= 0:
            raise ValueError("the frame shift must be at least one sample")

    @property
    def dim(self) -> int:
        """Q, the number of feature rows of the (1, Q, N) feature image."""
        return self.num_mels if self.kind == "mel" else self.num_sp

    @property
    def hop(self) -> int:
        """Samples per feature frame."""
        if self.kind == "mel":
            return self.hop_size
        return int(round(self.sample_rate * self.frame_period / 1000.0))

    @property
    def frame_period_ms(self) -> float:
        """Frame shift in milliseconds, for both kinds (F0 is extracted at this rate)."""
        return 1000.0 * self.hop / self.sample_rate

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def fingerprint(self) -> str:
        """A short stable hash of every setting; equal fingerprints mean interchangeable features."""
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def diff(self, other: FeatureConfig | dict) -> list[str]:
        """Human-readable ``field: mine vs theirs`` for every differing field."""
        theirs = other.to_dict() if isinstance(other, FeatureConfig) else dict(other)
        mine = self.to_dict()
        out = []
        for key in sorted(set(mine) | set(theirs)):
            if mine.get(key, "<absent>") != theirs.get(key, "<absent>"):
                out.append(f"{key}: {mine.get(key, '<absent>')!r} vs {theirs.get(key, '<absent>')!r}")
        return out

    @classmethod
    def from_stored(cls, data: dict) -> FeatureConfig:
        """Rebuild from a dict stored in a cache/checkpoint (keys unknown to this version are errors)."""
        from vc.config import from_dict

        return from_dict(cls, data, "features")


def check_fingerprint(expected: FeatureConfig, stored: dict | FeatureConfig, what: str) -> None:
    """Refuse ``what`` (a file or directory name) if it was made with different feature settings.

    ``stored`` is the feature config dict saved alongside the cache/checkpoint/vocoder.
    """
    stored_d = stored.to_dict() if isinstance(stored, FeatureConfig) else dict(stored)
    differences = expected.diff(stored_d)
    if differences:
        raise FingerprintError(
            f"{what} was made with different feature settings ({'; '.join(differences)}; "
            "first value is the current config)"
        )
