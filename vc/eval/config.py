"""Evaluation settings (the ``eval:`` section)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class EvalConfig:
    split: str = "test"
    targets: list[str] = field(default_factory=list)
    """Target domains to convert to; empty: every domain other than the source's."""
    max_utts: int = 0
    """Cap on source utterances per domain (0: all)."""
    asr: bool = True
    """Word error rate with pocketsphinx (English only; switch off for other languages)."""
    classifier_steps: int = 1500
    """Training steps for the domain classifier used by the domain-accuracy metric."""
    mcd_order: int = 24
    num_workers: int = 0
