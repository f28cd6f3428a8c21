"""Vocoders by name: ``world``, ``griffinlim`` and ``pwg:<dir>``.

Every vocoder takes the features the models produce, NORMALISED with the dump's statistics, and
denormalises them itself::

    voc = get_vocoder("pwg:exp/vctk/vocoder", cfg.features, dump.stats)
    wav = voc(feats_norm)                     # (N, Q) -> float32 (N * hop,)
    wav = get_vocoder("world", ...)(sp_norm, f0=f0_tgt, ap=coded_ap)

The experiment's default vocoder is resolved by :func:`default_vocoder_name`: ``vocoder.name`` when
set, else the one ``vc-train-vocoder`` recorded in ``<train.out_dir>/default_vocoder.json``
(``{"name": "pwg:<absolute dir>"}``), else ``world`` for WORLD features and ``griffinlim`` for mel.
"""

from __future__ import annotations

import json
import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vc.errors import ConfigError
from vc.features.config import FeatureConfig
from vc.io import write_json_atomic

if TYPE_CHECKING:
    from vc.config import ExperimentConfig
    from vc.features.stats import Stats

VOCODER_NAMES = ("world", "griffinlim", "pwg:<dir>")
DEFAULT_VOCODER_FILE = "default_vocoder.json"
"""Written into ``train.out_dir`` by ``vc-train-vocoder``; read by :func:`default_vocoder_name`."""


def to_numpy(x: Any, dtype: type = np.float32) -> np.ndarray:
    """A numpy copy of an array or (any-device) torch tensor."""
    if type(x).__module__.startswith("torch"):
        x = x.detach().cpu().float().numpy()
    return np.asarray(x, dtype=dtype)


def fit_length(wav: np.ndarray, length: int) -> np.ndarray:
    """Trim or zero-pad ``wav (T,)`` to ``length`` samples."""
    if len(wav) >= length:
        return wav[:length]
    return np.concatenate([wav, np.zeros(length - len(wav), dtype=wav.dtype)])


class Vocoder(ABC):
    """Features to audio.

    ``voc(feats_norm (N, Q), *, f0=None (N,) Hz, ap=None (N, A)) -> wav float32 (N * hop,)``; the
    features are normalised with ``stats`` (as the models produce them). ``f0`` and ``ap`` are used
    by vocoders that need them (WORLD) and ignored by the others.
    """

    name: str = ""

    def __init__(self, features: FeatureConfig, stats: Stats) -> None:
        self.features = features
        self.stats = stats
        self.sample_rate = features.sample_rate
        self.hop = features.hop

    def _check_feats(self, feats: Any) -> None:
        shape = tuple(feats.shape)
        if len(shape) != 2 or shape[1] != self.features.dim:
            raise ValueError(f"{self.name} vocoder: expected features (N, {self.features.dim}), got {shape}")

    def __call__(self, feats: Any, *, f0: Any = None, ap: Any = None) -> np.ndarray:
        self._check_feats(feats)
        return self.synthesize(feats, f0=f0, ap=ap)

    @abstractmethod
    def synthesize(self, feats: Any, *, f0: Any = None, ap: Any = None) -> np.ndarray:
        """``feats (N, Q)`` normalised -> float32 ``(N * hop,)``."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, sample_rate={self.sample_rate}, hop={self.hop})"


def get_vocoder(
    name: str,
    features: FeatureConfig,
    stats: Stats,
    device: Any = "cpu",
    *,
    griffinlim_iters: int = 32,
) -> Vocoder:
    """The vocoder called ``name`` for ``features`` (whose normalisation ``stats`` describe).

    Raises:
        ConfigError: unknown name (the message lists the valid ones), or a vocoder that cannot serve
            these features (``world`` for mel, ``griffinlim`` for WORLD).
        CheckpointError / FingerprintError: a ``pwg:<dir>`` that is incomplete or was made for
            other feature settings.
    """
    name = (name or "").strip()
    if name == "world":
        from vc.vocoders.world import WorldVocoder

        return WorldVocoder(features, stats)
    if name == "griffinlim":
        from vc.vocoders.griffinlim import GriffinLimVocoder

        return GriffinLimVocoder(features, stats, n_iter=griffinlim_iters)
    if name.startswith("pwg:"):
        directory = name[len("pwg:") :].strip()
        if not directory:
            raise ConfigError("vocoder 'pwg:' needs a directory: pwg:<dir>")
        from vc.vocoders.pwg import PWGVocoder

        return PWGVocoder(directory, features, stats, device=device)
    raise ConfigError(f"unknown vocoder {name!r}; valid: {', '.join(VOCODER_NAMES)}")


def write_default_vocoder(train_out_dir: str | Path, name: str) -> Path:
    """Record ``name`` as the experiment's default vocoder (``<train_out_dir>/default_vocoder.json``)."""
    path = Path(train_out_dir) / DEFAULT_VOCODER_FILE
    write_json_atomic(path, {"name": name})
    return path


def read_default_vocoder(train_out_dir: str | Path) -> str | None:
    """The name recorded by :func:`write_default_vocoder`, or None when there is none.

    Raises:
        ConfigError: the file exists but is not ``{"name": "..."}``.
    """
    path = Path(train_out_dir) / DEFAULT_VOCODER_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: not readable JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("name"), str) or not data["name"]:
        raise ConfigError(f'{path}: expected {{"name": "<vocoder>"}}')
    return data["name"]


def default_vocoder_name(cfg: ExperimentConfig, exp_dir: str | os.PathLike | None = None) -> str:
    """``vocoder.name``, else the vocoder ``vc-train-vocoder`` recorded, else world/griffinlim by kind.

    ``exp_dir`` is where to look for the record (default ``train.out_dir``); conversion passes the
    folder its checkpoint lives in, so a moved experiment keeps its vocoder.
    """
    if cfg.vocoder.name:
        return cfg.vocoder.name
    recorded = read_default_vocoder(exp_dir if exp_dir is not None else cfg.train.out_dir)
    if recorded:
        return recorded
    return "world" if cfg.features.kind == "world" else "griffinlim"
