"""Training: ``vc.train.train(cfg)`` and the checkpoint format (:mod:`vc.train.checkpoint`).

Importing this package stays cheap (no torch) because ``vc.config`` imports its config section.
"""


def train(cfg, out_dir=None, resume=False, device=None):
    """Train ``cfg`` (an :class:`~vc.config.ExperimentConfig`); see :func:`vc.train.loop.train`."""
    from vc.train.loop import train as _train

    return _train(cfg, out_dir=out_dir, resume=resume, device=device)


def load_checkpoint(path, map_location="cpu"):
    """Read a checkpoint; see :func:`vc.train.checkpoint.load_checkpoint`."""
    from vc.train.checkpoint import load_checkpoint as _load

    return _load(path, map_location=map_location)


__all__ = ["train", "load_checkpoint"]
