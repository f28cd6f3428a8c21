"""Training: ``vc.train.train(cfg)`` and the checkpoint format."""

from vc.train.checkpoint import load_checkpoint


def train(cfg, out_dir=None, resume=False, device=None):
    """Train ``cfg`` (an :class:`~vc.config.ExperimentConfig`); see :func:`vc.train.loop.train`."""
    from vc.train.loop import train as _train

    return _train(cfg, out_dir=out_dir, resume=resume, device=device)


__all__ = ["train", "load_checkpoint"]
