"""Self-describing checkpoints.

A checkpoint holds everything needed to resume training or to convert with nothing else at hand:
nets, EMA copies, optimisers, schedulers, step, RNG states, the resolved config, the feature config
and fingerprint, the domain names, the feature statistics and the package version. Files are written
atomically (temp file, then rename), so a crash mid-write never damages the newest good checkpoint.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

import vc
from vc.errors import CheckpointError
from vc.io import atomic_path

FORMAT = "vc-checkpoint"
FORMAT_VERSION = 1
_STEP_RE = re.compile(r"step_(\d+)\.pt$")


def checkpoint_dir(out_dir: str | Path) -> Path:
    return Path(out_dir) / "checkpoints"


def step_path(out_dir: str | Path, step: int) -> Path:
    return checkpoint_dir(out_dir) / f"step_{step:08d}.pt"


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` (plus format tags and the package version) atomically to ``path``."""
    state = {"format": FORMAT, "format_version": FORMAT_VERSION, "vc_version": vc.__version__, **state}
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return Path(path)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint; a missing, truncated or foreign file raises :class:`CheckpointError`."""
    path = Path(path)
    if path.is_dir():
        newest = newest_checkpoint(path)
        if newest is None:
            raise CheckpointError(f"{path}: no checkpoint found in this directory")
        path = newest
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        state = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as exc:  # torch raises many types for a damaged zip/pickle
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(exc).__name__})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a vc checkpoint")
    if state.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: written by a newer vc ({state.get('vc_version')}); upgrade to read it"
        )
    state["path"] = str(path)
    return state


def list_checkpoints(out_dir_or_ckpt_dir: str | Path) -> list[Path]:
    """Step checkpoints under an experiment (or its ``checkpoints/``) directory, oldest first."""
    root = Path(out_dir_or_ckpt_dir)
    folder = root if root.name == "checkpoints" else checkpoint_dir(root)
    found = [p for p in folder.glob("step_*.pt") if _STEP_RE.search(p.name)]
    return sorted(found, key=lambda p: int(_STEP_RE.search(p.name).group(1)))


def newest_checkpoint(out_dir: str | Path) -> Path | None:
    found = list_checkpoints(out_dir)
    return found[-1] if found else None


def find_default_checkpoint(search_root: str | Path = "exp") -> Path | None:
    """The newest step checkpoint anywhere under ``search_root`` (by modification time)."""
    root = Path(search_root)
    if not root.is_dir():
        return None
    found = [p for p in root.rglob("checkpoints/step_*.pt") if _STEP_RE.search(p.name)]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def prune_checkpoints(out_dir: str | Path, keep_last: int) -> None:
    """Delete all but the newest ``keep_last`` step checkpoints (``best.pt`` is never touched)."""
    if keep_last <= 0:
        return
    for old in list_checkpoints(out_dir)[:-keep_last]:
        old.unlink(missing_ok=True)
