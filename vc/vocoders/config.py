"""Vocoder settings (the ``vocoder:`` section)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass
class VocoderConfig:
    name: str = ""
    """Default vocoder for conversion: ``world``, ``griffinlim`` or ``pwg:<dir>``. Empty: the neural
    vocoder this experiment trained (``<train.out_dir>/default_vocoder.json``) if there is one, else
    ``world`` for WORLD features and ``griffinlim`` for mel."""
    griffinlim_iters: int = 32
    silence_gate_db: float = 0.0
    """Silence gate of every conversion (``vc-convert``, ``vc-eval``, the web page, streaming): frames
    whose source level lies more than this many dB below the utterance's loud level (95th
    percentile of its frame levels) are lowered further, by ``silence_gate_ratio - 1`` dB per dB, at
    most 30 dB, so the pauses keep no coloured breath and room noise. 0 (default): off. See
    :mod:`vc.features.gate`."""
    silence_gate_ratio: float = 3.0
    """Expansion ratio of the silence gate (> 1)."""
    source_band_hz: float = 0.0
    """WORLD conversions only: above this frequency the output is the source's own waveform, its
    pitch moved to the converted F0 by PSOLA (Praat, through ``praat-parselmouth``) and filtered by
    the converted envelope over its own, instead of WORLD's synthesis (``vc.vocoders.source_band``;
    docs/quality.md, item 24). 0 (default): WORLD at every frequency. ``vc-convert``, ``vc-eval`` and
    the web page use it; streaming does not."""
    # --- vc-train-vocoder (parallel-wavegan) ---
    generator: Literal["hifigan", "parallel_wavegan", "melgan", "multiband_melgan"] = "hifigan"
    """``hifigan`` (default), ``parallel_wavegan``, ``melgan`` or ``multiband_melgan`` (4 PQMF bands)."""
    size: Literal["paper", "cpu"] = "cpu"
    """``paper`` (the published sizes, e.g. HiFi-GAN V1) or ``cpu`` (a small variant that trains on 2 cores)."""
    out_dir: str = ""
    """Where ``vc-train-vocoder`` writes the vocoder; empty: ``<train.out_dir>/vocoder``."""
    train_steps: int = 100000
    batch_size: int = 16
    batch_max_steps: int = 8400
    """Audio samples per training segment (a multiple of the hop)."""
    save_every: int = 5000
    eval_every: int = 1000
    """Steps between evaluations on the dev split (0: only at the end of training)."""
    log_every: int = 100
    num_workers: int = 0
    """DataLoader worker processes of the parallel-wavegan trainer."""
    pwg_overrides: dict[str, Any] = field(default_factory=dict)
    """Extra parallel-wavegan YAML merged (recursively) over the generated one, e.g.
    ``{generator_params: {channels: 64}}``. The feature keys cannot be overridden: they always come
    from the ``features:`` section."""
    finetune_on_generator: bool = False
    """After training, fine-tune the vocoder on the conversion model's own teacher-forced outputs (the
    generator reconstructing each training utterance in its own voice, same length as the real audio),
    which removes the mismatch between real and generated features. Needs a trained model in
    ``train.out_dir``; the result goes to ``<vocoder dir>/finetune`` and becomes the default."""
    finetune_steps: int = 10000
    """Fine-tuning steps (``finetune_on_generator``)."""

    def __post_init__(self) -> None:
        if self.silence_gate_db < 0:
            raise ValueError(f"vocoder.silence_gate_db must be >= 0 (0: off), got {self.silence_gate_db}")
        if self.silence_gate_ratio <= 1:
            raise ValueError(f"vocoder.silence_gate_ratio must be > 1, got {self.silence_gate_ratio}")
        if self.source_band_hz < 0:
            raise ValueError(f"vocoder.source_band_hz must be >= 0 (0: off), got {self.source_band_hz}")
