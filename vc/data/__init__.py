"""Corpus preparation and the prepared dump.

Public API::

    prepare(cfg: ExperimentConfig) -> PrepResult      (CLI: vc-prep CONF [--set ...])
    Dump(dump_dir, features_cfg)                       domains, stats, utterances(split), load(utt_id)
    Utterance                                          one manifest row
    FeatureDataset(dump, split, crop_frames, reference=True), collate

The modules load on first use, so importing the ``data:`` config section stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

from vc.data.config import DataConfig

_LAZY = {
    "prepare": "vc.data.prep",
    "PrepResult": "vc.data.prep",
    "Dump": "vc.data.dump",
    "Utterance": "vc.data.dump",
    "FeatureDataset": "vc.data.dataset",
    "collate": "vc.data.dataset",
}

__all__ = ["DataConfig", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'vc.data' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
