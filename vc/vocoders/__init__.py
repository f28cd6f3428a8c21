"""Vocoders: features back to audio.

``get_vocoder(name, features, stats, device)`` returns a :class:`Vocoder` by name: ``world`` (WORLD
features), ``griffinlim`` (mel, no training needed) or ``pwg:<dir>`` (any parallel-wavegan checkpoint
directory: Parallel WaveGAN, HiFi-GAN, MelGAN, multi-band MelGAN, StyleMelGAN).
``vc-train-vocoder`` (:func:`vc.vocoders.train.train_vocoder`) trains one with parallel-wavegan on
the experiment's own features and records it as the experiment's default vocoder.
"""

from vc.vocoders.registry import (
    DEFAULT_VOCODER_FILE,
    VOCODER_NAMES,
    Vocoder,
    default_vocoder_name,
    get_vocoder,
    read_default_vocoder,
    write_default_vocoder,
)

__all__ = [
    "DEFAULT_VOCODER_FILE",
    "VOCODER_NAMES",
    "Vocoder",
    "default_vocoder_name",
    "get_vocoder",
    "read_default_vocoder",
    "write_default_vocoder",
]
