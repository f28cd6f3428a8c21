"""Evaluation: objective scores and an offline HTML listening report.

Public API::

    evaluate_checkpoint(ckpt, out_dir=None, split=None, cfg=None, ...) -> EvalResult   (vc-eval --ckpt)
    evaluate_pairs(pairs_tsv, out_dir=None, cfg=None, dump=None, ...) -> EvalResult   (vc-eval --pairs)
    EvalConfig                                                                         the ``eval:`` section

The metrics are defined in :mod:`vc.eval.metrics` and the README's Metrics section. The modules load
on first use, so importing the ``eval:`` config section stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

from vc.eval.config import EvalConfig

_LAZY = {
    "evaluate_checkpoint": "vc.eval.evaluate",
    "evaluate_pairs": "vc.eval.evaluate",
    "read_pairs": "vc.eval.evaluate",
    "EvalResult": "vc.eval.evaluate",
    "Pair": "vc.eval.evaluate",
}

__all__ = ["EvalConfig", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'vc.eval' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
