"""vc: multi-domain voice conversion with the StarGAN family.

The public API is three verbs: prepare a corpus (:func:`vc.data.prepare`), train
(:func:`vc.train.train`), and convert (:func:`vc.load` returns a :class:`Converter`).
"""

__version__ = "0.1.0"


def load(ckpt=None, vocoder=None, device=None, strength=1.0, silence_gate_db=None, source_band_hz=None):
    """Load a trained checkpoint for conversion; see :func:`vc.convert.load`."""
    from vc.convert import load as _load

    return _load(ckpt, vocoder=vocoder, device=device, strength=strength, silence_gate_db=silence_gate_db,
                 source_band_hz=source_band_hz)
