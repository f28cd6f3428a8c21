"""Conversion: :func:`load` a checkpoint into a :class:`Converter`, then call it."""

from vc.convert.converter import Converter, default_vocoder_name, load, resolve_checkpoint

__all__ = ["Converter", "load", "default_vocoder_name", "resolve_checkpoint"]
