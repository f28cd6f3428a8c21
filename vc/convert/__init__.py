"""Conversion: :func:`load` a checkpoint into a :class:`Converter`, then call it."""

from vc.convert.converter import Converter, load, resolve_checkpoint

__all__ = ["Converter", "load", "resolve_checkpoint"]
