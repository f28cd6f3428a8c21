"""``pwg:<dir>``: any parallel-wavegan checkpoint directory as a vocoder.

A directory holds ``config.yml``, ``stats.h5`` and one or more ``checkpoint-<steps>steps.pkl`` (the
newest by step is used): what ``vc-train-vocoder`` writes, and what parallel-wavegan's own recipes
and published models ship. Parallel WaveGAN, HiFi-GAN, MelGAN, multi-band MelGAN (PQMF) and
StyleMelGAN generators are supported, through ``parallel_wavegan.utils.load_model`` and the
generator's ``inference``.

The directory's feature settings are compared with ours before anything is loaded; a mismatch is a
:class:`~vc.errors.FingerprintError` naming every differing field with both values. Our features
arrive normalised with the dump's statistics; they are denormalised with those and renormalised
with the directory's own ``stats.h5`` (the generator's registered ``mean``/``scale``).
"""

from __future__ import annotations

import math
import pickle
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

from vc.errors import CheckpointError, FingerprintError
from vc.features.config import FeatureConfig
from vc.vocoders.pwg_compat import import_pwg
from vc.vocoders.registry import Vocoder
from vc.vocoders.templates import feature_section

if TYPE_CHECKING:
    from vc.features.stats import Stats

SUPPORTED_GENERATORS = (
    "ParallelWaveGANGenerator",
    "HiFiGANGenerator",
    "MelGANGenerator",
    "StyleMelGANGenerator",
)
_LAYOUT = "a parallel-wavegan vocoder directory holds config.yml, stats.h5 and checkpoint-<steps>steps.pkl"
_CKPT_STEPS = re.compile(r"checkpoint-(\d+)steps\.pkl$")


def checkpoint_steps(path: Path) -> int:
    """The step count in a ``checkpoint-<steps>steps.pkl`` name (-1 if it has none)."""
    m = _CKPT_STEPS.search(path.name)
    return int(m.group(1)) if m else -1


def find_checkpoint(directory: str | Path) -> Path:
    """The newest ``checkpoint-*.pkl`` in ``directory`` by step (by mtime among unnumbered ones).

    Raises:
        CheckpointError: none there.
    """
    directory = Path(directory)
    found = sorted(directory.glob("checkpoint-*.pkl"), key=lambda p: (checkpoint_steps(p), p.stat().st_mtime))
    if not found:
        raise CheckpointError(f"{directory}: no checkpoint-*.pkl in the vocoder directory ({_LAYOUT})")
    return found[-1]


def read_pwg_config(directory: str | Path) -> dict[str, Any]:
    """``<directory>/config.yml`` as a dict.

    Raises:
        CheckpointError: the directory or its config.yml is missing or unreadable.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"{directory}: vocoder directory not found")
    path = directory / "config.yml"
    if not path.is_file():
        raise CheckpointError(f"{path}: config.yml not found ({_LAYOUT})")
    try:
        # parallel-wavegan dumps with yaml.Dumper; FullLoader reads its tuples without running code.
        config = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.FullLoader)
    except (OSError, yaml.YAMLError) as exc:
        raise CheckpointError(f"{path}: not readable YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(config, dict) or not isinstance(config.get("generator_params"), dict):
        raise CheckpointError(f"{path}: not a parallel-wavegan config (no generator_params)")
    return config


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def feature_differences(config: dict[str, Any], features: FeatureConfig) -> list[str]:
    """``field: ours vs vocoder`` for each feature setting where ``config`` and ``features`` differ.

    Compared: the feature kind (mel unless the directory records ours under ``vc_features``),
    sampling_rate, fft_size, hop_size, win_length, window, num_mels, fmin, fmax, and log_base when
    the config has one. parallel-wavegan's defaults fill absent keys (window ``hann``, win_length =
    fft_size, fmin 0, fmax sampling_rate / 2; ``log_base: null`` is the natural log).
    """
    theirs_kind = ((config.get("vc_features") or {}).get("config") or {}).get("kind", "mel")
    if features.kind != theirs_kind:
        return [f"kind: {features.kind} (ours) vs {theirs_kind} (vocoder)"]
    ours = feature_section(features)
    sr = config.get("sampling_rate")
    fft = config.get("fft_size")
    theirs = {
        "sampling_rate": sr,
        "fft_size": fft,
        "hop_size": config.get("hop_size"),
        "win_length": config.get("win_length") if config.get("win_length") is not None else fft,
        "window": config.get("window", "hann"),
        "num_mels": config.get("num_mels", config["generator_params"].get("in_channels")),
        "fmin": config.get("fmin") if config.get("fmin") is not None else 0.0,
        "fmax": config.get("fmax") if config.get("fmax") is not None else (sr / 2 if sr else None),
    }
    if "log_base" in config:
        theirs["log_base"] = config["log_base"]
    diffs = []
    for key, value in theirs.items():
        mine = ours[key]
        if key == "log_base":
            mine = math.e if mine is None else mine
            value = math.e if value is None else value
        if not _same(mine, value):
            diffs.append(f"{key}: {mine} (ours) vs {value} (vocoder)")
    return diffs


def check_pwg_dir(directory: str | Path, features: FeatureConfig) -> tuple[dict[str, Any], Path, Path]:
    """Validate a vocoder directory for ``features``; returns ``(config, checkpoint, stats_path)``.

    Raises:
        CheckpointError: a missing directory, config.yml, stats.h5 or checkpoint (named), or an
            unsupported generator type.
        FingerprintError: made for other feature settings (each differing field with both values).
    """
    directory = Path(directory)
    config = read_pwg_config(directory)
    diffs = feature_differences(config, features)
    if diffs:
        raise FingerprintError(f"vocoder {directory} was made for different features: {'; '.join(diffs)}")
    stats_path = directory / "stats.h5"
    if not stats_path.is_file():
        raise CheckpointError(f"{stats_path}: stats.h5 not found ({_LAYOUT})")
    checkpoint = find_checkpoint(directory)
    generator_type = config.get("generator_type", "ParallelWaveGANGenerator")
    if generator_type not in SUPPORTED_GENERATORS:
        raise CheckpointError(
            f"{directory / 'config.yml'}: generator_type {generator_type} is not a mel vocoder we can "
            f"drive; supported: {', '.join(SUPPORTED_GENERATORS)}"
        )
    return config, checkpoint, stats_path


class PWGVocoder(Vocoder):
    """A parallel-wavegan generator on ``device``."""

    def __init__(self, directory: str | Path, features: FeatureConfig, stats: Stats, device: Any = "cpu") -> None:
        import torch

        super().__init__(features, stats)
        self.directory = Path(directory).resolve()
        self.name = f"pwg:{self.directory}"
        config, self.checkpoint, stats_path = check_pwg_dir(self.directory, features)
        utils = import_pwg("utils")
        try:
            model = utils.load_model(str(self.checkpoint), config, stats=str(stats_path))
        except (RuntimeError, KeyError, OSError, EOFError, TypeError, ValueError, pickle.UnpicklingError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise CheckpointError(f"{self.checkpoint}: cannot load the generator ({reason})") from None
        model.remove_weight_norm()
        self.device = torch.device(device)
        self.model = model.eval().to(self.device)
        self.generator_type = config.get("generator_type", "ParallelWaveGANGenerator")

    def synthesize(self, feats: Any, *, f0: Any = None, ap: Any = None) -> np.ndarray:
        """``feats (N, Q)`` normalised log-mel (numpy or torch) -> ``(N * hop,)`` float32."""
        import torch

        x = torch.as_tensor(feats, dtype=torch.float32).to(self.device)
        with torch.inference_mode():
            raw = self.stats.denormalize(x)  # our normalisation undone ...
            # ... and the directory's applied by the generator (its registered stats.h5).
            wav = self.model.inference(raw, normalize_before=True)
        return wav.reshape(-1).float().cpu().numpy()
