"""Feature extraction: log-mel (parallel-wavegan compatible) and WORLD, plus their statistics.

Public API::

    FeatureConfig, check_fingerprint           the single definition of the features
    extract(wav, cfg) -> Features              feats (N, Q), f0 (N,), ap (N, A) | None
    logmel(wav, cfg) -> (N, Q)                 parallel-wavegan's logmelfilterbank
    world_synthesize(coded_sp, f0, coded_ap, cfg) -> wav
    Stats, StatsAccumulator                    stats.h5 (vc.features.stats)

The heavy modules (torch, librosa, pyworld) load on first use, so importing a config stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

from vc.features.config import FeatureConfig, check_fingerprint

# Bound eagerly: the function ``extract`` shares its name with the submodule, and importing the
# submodule later would otherwise replace the package attribute with the module.
from vc.features.extract import Features, extract, world_synthesize

_LAZY = {
    "logmel": "vc.features.mel",
    "Stats": "vc.features.stats",
    "StatsAccumulator": "vc.features.stats",
}

__all__ = ["FeatureConfig", "check_fingerprint", "Features", "extract", "world_synthesize", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'vc.features' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
