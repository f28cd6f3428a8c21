"""The model-family registry: ``get_family(cfg.model.name) -> ModelFamily``.

A family bundles the nets of one method (StarGAN v2, StarGAN-VC, ...) with its losses and its
conversion/judging rules, so the training loop and the converter never branch on the name. A new
family subclasses :class:`ModelFamily`, decorates itself with ``@register_family("name")`` and adds
its module to ``_BUILTIN_MODULES`` so it is imported on first lookup (this module stays free of
torch so that loading a config stays cheap).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from vc.errors import ConfigError

if TYPE_CHECKING:
    import torch
    from torch import nn

    from vc.train.config import TrainConfig

# Modules that register the built-in families when imported.
_BUILTIN_MODULES: tuple[str, ...] = ("vc.models.stargan_v2", "vc.models.stargan_vc", "vc.models.stargan_vc2")
_FAMILIES: dict[str, type[ModelFamily]] = {}
_loaded = False


class ModelFamily:
    """What the training loop, the converter and the evaluator may ask of a model family.

    Nets live in a plain ``dict[str, nn.Module]`` made by :meth:`build`; ``cfg`` is the
    :class:`~vc.config.ExperimentConfig`; ``batch`` is a collated
    :class:`~vc.data.FeatureDataset` batch already on the device (``x (B,1,Q,N)``, ``f0n (B,N)``,
    ``voiced (B,N)``, ``y (B,)``, ``x_ref``, ``x_ref2 (B,1,Q,N)``, ``y_ref (B,)``); ``aux`` holds
    frozen auxiliary nets such as ``aux["f0_net"]``.
    """

    name: str = ""
    g_nets: tuple[str, ...] = ()
    """Nets trained by the generator optimiser step."""
    d_nets: tuple[str, ...] = ()
    """Nets trained by the discriminator optimiser step."""
    ema_nets: tuple[str, ...] = ()
    """Nets that get an exponential-moving-average copy (used for dev losses and conversion)."""
    has_style_encoder: bool = False
    """Whether :meth:`style` accepts a reference clip (``--ref``); the converter refuses one otherwise."""
    uses_f0_net: bool = False
    """Whether the family's losses use ``aux["f0_net"]`` (the loop only trains one when asked)."""
    needs_source: bool = False
    """Whether :meth:`convert` needs the source domain (StarGAN-VC2's source-and-target conditioning).
    When the user gives none, the converter asks :meth:`judge_domain` about the source clip."""
    has_strength: bool = False
    """Whether :meth:`convert` takes ``strength`` (how much of the generator's change to apply)."""

    def build(self, cfg: Any, dim_q: int, num_domains: int) -> dict[str, nn.Module]:
        raise NotImplementedError

    def init_from_stats(self, nets, stats, domains: list[str], dump=None) -> None:
        """Fill nets that hold corpus statistics, or (from ``dump``, the prepared corpus) training
        frames; called once before training. Default: none do."""

    def lr(self, name: str, train_cfg: TrainConfig) -> float:
        """Learning rate of net ``name``: ``lr_d`` for the discriminator nets, ``lr`` otherwise."""
        return train_cfg.lr_d if name in self.d_nets else train_cfg.lr

    def d_loss(self, nets, batch, step: int, cfg, aux) -> tuple[torch.Tensor, dict[str, float]]:
        raise NotImplementedError

    def g_loss(self, nets, batch, step: int, cfg, aux) -> tuple[torch.Tensor, dict[str, float]]:
        raise NotImplementedError

    def dev_losses(self, nets, batch, cfg, aux) -> dict[str, float]:
        raise NotImplementedError

    def style(self, nets, target: int, *, z=None, ref=None) -> torch.Tensor:
        raise NotImplementedError

    def convert(self, nets, x, f0n, source: int, target: int, style, shift=None) -> torch.Tensor:
        """``shift``: the source and target feature moments (:class:`vc.models.moments.Shift`) for
        families that build on the statistical conversion; the others ignore it. A family on the kNN
        base (StarGAN v2) also takes ``pool=``, a reference clip's frames to match against, and
        ``intonation=True`` (it then returns ``(output, intonation)``: :func:`vc.models.stargan_v2.generator_input`)."""
        raise NotImplementedError

    def judge_domain(self, nets, ref) -> torch.Tensor:
        raise NotImplementedError


def register_family(name: str):
    """Class decorator: ``@register_family("stargan_v2")`` makes ``get_family("stargan_v2")`` find it."""

    def wrap(cls: type[ModelFamily]) -> type[ModelFamily]:
        if name in _FAMILIES and _FAMILIES[name] is not cls:
            raise ValueError(f"model family {name!r} is registered twice")
        cls.name = name
        _FAMILIES[name] = cls
        return cls

    return wrap


def _load_builtins() -> None:
    global _loaded
    if not _loaded:
        for module in _BUILTIN_MODULES:
            importlib.import_module(module)
        _loaded = True


def family_names() -> list[str]:
    """Names of every registered family."""
    _load_builtins()
    return sorted(_FAMILIES)


def get_family(name: str) -> ModelFamily:
    """A fresh instance of the family called ``name``; an unknown name lists the registered ones."""
    _load_builtins()
    if name not in _FAMILIES:
        raise ConfigError(f"model.name: unknown model family {name!r}; registered: {', '.join(family_names())}")
    return _FAMILIES[name]()


def count_parameters(nets: Mapping[str, nn.Module]) -> dict[str, int]:
    """Parameter count of each net (frozen ones included), plus ``total``."""
    counts = {name: sum(p.numel() for p in net.parameters()) for name, net in nets.items()}
    counts["total"] = sum(counts.values())
    return counts
