"""Evaluation settings (the ``eval:`` section). The metrics are defined in docs/metrics.md."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

#: Every baseline ``vc-eval`` can score, in report order: the keys of ``vc.eval.baselines.BASELINES``
#: (named here so that reading a config does not import the WORLD and torch code behind them).
BASELINE_NAMES = ("source", "resynth", "statistical", "statistical_gated")


@dataclass
class EvalConfig:
    split: str = "test"
    targets: list[str] = field(default_factory=list)
    """Target domains to convert to; empty: every domain other than the source's."""
    max_utts: int = 0
    """Cap on source utterances per domain (0: all)."""
    seed: int = 0
    """Conversion ``k`` (in order) draws its mapping-network style with seed ``seed + k``."""
    sample_rate: int = 0
    """Rate the objective scores are computed at when no checkpoint or config is given (pairs mode);
    0: the first converted file's own rate. With a checkpoint or config, its feature rate is used."""

    # --- MCD and F0 (pyworld analysis) ---
    frame_period: float = 5.0
    """Analysis frame shift in milliseconds for F0 and the mel-cepstrum."""
    f0_method: Literal["harvest", "dio"] = "harvest"
    """F0 extractor for the F0 metrics (``dio`` is refined by stonemask and several times faster)."""
    mcd_order: int = 24
    """Mel-cepstrum order M: MCD sums over c1..cM (c0, the energy, is left out)."""
    mcd_alpha: float = 0.0
    """All-pass constant of the frequency warping; 0 picks it by sampling rate (0.42 at 16 kHz,
    0.455 at 22.05 kHz, 0.466 at 24 kHz; see vc.eval.metrics.all_pass_constant)."""
    mcd_silence_db: float = 40.0
    """Frames whose energy (c0) is more than this many dB below the utterance's loudest frame are
    dropped before DTW, so pauses do not dilute the score; 0 keeps every frame."""

    # --- domain accuracy ---
    classifier_steps: int = 1500
    """Training steps for the domain classifier used by the domain-accuracy metric (0: skip the metric)."""
    classifier_crop_seconds: float = 1.0
    """Length of the feature crops the classifier trains on; utterances are scored as the mean of
    the logits of half-overlapping crops of this length."""

    # --- optional extras (pip install .[eval]) ---
    speaker_similarity: bool = True
    """Resemblyzer cosine similarity to the target's and the source's real speech."""
    speaker_refs: int = 5
    """Real training utterances per domain averaged into that domain's reference embedding."""
    naturalness: bool = True
    """DNSMOS (speechmos): P.835 overall quality, its speech-signal and background parts, and the
    P.808 model's overall quality."""
    asr: bool = True
    """Word error rate with pocketsphinx (English only; switch off for other languages)."""

    # --- baselines scored beside the model on the same utterances (vc.eval.baselines) ---
    baselines: list[str] = field(default_factory=lambda: list(BASELINE_NAMES))
    """Simple systems scored by the same code on the same utterances: ``source`` (no conversion),
    ``resynth`` (WORLD analysis-resynthesis of the source), ``statistical`` (log-Gaussian F0 and
    per-dimension mean/variance of the WORLD coded envelope, per-domain statistics of the training
    split), ``statistical_gated`` (the same through the conversions' silence gate; only when they
    have one). Empty: none."""
    baseline_utts: int = 20
    """Training utterances per domain the statistical baseline's statistics are taken from (0: all)."""

    num_workers: int = 0
    """Processes for the per-pair scores (F0, MCD, plots); 0 uses every core."""

    def __post_init__(self) -> None:
        if self.max_utts < 0:
            raise ValueError("max_utts must be 0 (all) or positive")
        if self.frame_period <= 0:
            raise ValueError("frame_period must be positive")
        if self.mcd_order < 1:
            raise ValueError("mcd_order must be at least 1")
        if not 0.0 <= self.mcd_alpha < 1.0:
            raise ValueError("mcd_alpha must be in [0, 1) (0 picks it by sampling rate)")
        if self.mcd_silence_db < 0:
            raise ValueError("mcd_silence_db must be 0 (keep every frame) or positive")
        if self.classifier_steps < 0:
            raise ValueError("classifier_steps must be 0 or positive")
        if self.classifier_crop_seconds <= 0:
            raise ValueError("classifier_crop_seconds must be positive")
        if self.speaker_refs < 1:
            raise ValueError("speaker_refs must be at least 1")
        if self.num_workers < 0:
            raise ValueError("num_workers must be 0 (every core) or positive")
        for name in self.baselines:
            if name not in BASELINE_NAMES:
                raise ValueError(f"baselines: unknown baseline {name!r}; choose from {', '.join(BASELINE_NAMES)}")
        if self.baseline_utts < 0:
            raise ValueError("baseline_utts must be 0 (all) or positive")
        if self.sample_rate < 0:
            raise ValueError("sample_rate must be 0 or positive")
