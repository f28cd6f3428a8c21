"""Vocoder settings (the ``vocoder:`` section)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class VocoderConfig:
    name: str = ""
    """Default vocoder for conversion: ``world``, ``griffinlim`` or ``pwg:<dir>``. Empty: ``world``
    for WORLD features, ``griffinlim`` for mel (or the neural vocoder this experiment trained)."""
    griffinlim_iters: int = 32
    # --- vc-train-vocoder (parallel-wavegan) ---
    generator: str = "hifigan"
    """``hifigan`` (default), ``parallel_wavegan`` or ``melgan``."""
    size: str = "cpu"
    """``paper`` (HiFi-GAN V1 scale) or ``cpu`` (a small variant that trains on 2 cores)."""
    out_dir: str = ""
    """Where ``vc-train-vocoder`` writes the vocoder; empty: ``<train.out_dir>/vocoder``."""
    train_steps: int = 100000
    batch_size: int = 16
    batch_max_steps: int = 8400
    """Audio samples per training segment (a multiple of the hop)."""
    save_every: int = 5000
    finetune_on_generator: bool = False
    """Fine-tune on the generator's own teacher-forced outputs for the training set."""
