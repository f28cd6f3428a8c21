"""What the web page does, as plain Python: find checkpoints, load and cache converters, convert one
clip or a batch into a per-request folder, and draw the source/result picture.

Nothing here imports gradio, so it is tested like the rest of the package; :mod:`vc.ui.app` only
lays these functions out on a page and turns a :class:`VCError` into a message on it.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
import time
import zipfile
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vc.errors import AudioError, ConfigError, VCError

#: Uploads longer than this are refused before any work: the page queues one request at a time, so a
#: long file would hold up everyone behind it (vc-convert has no such limit).
MAX_SOURCE_SECONDS = 60.0
#: Size limit of any one upload, enforced by the server itself (gradio's ``max_file_size``).
MAX_FILE_SIZE = "50mb"
#: Most styles (outputs) one request may draw from the mapping network.
MAX_STYLES = 8
#: Most files in one batch request.
MAX_BATCH_FILES = 50
#: Most clips drawn in the picture (source included), so it stays legible.
MAX_PLOT_CLIPS = 5


def find_checkpoints(root: str | os.PathLike = "exp") -> list[Path]:
    """The newest step checkpoint of every experiment under ``root`` (``**/checkpoints/step_*.pt``),
    newest first by modification time; empty when ``root`` is missing."""
    from vc.train.checkpoint import newest_checkpoint

    root = Path(root)
    if not root.is_dir():
        return []
    found = {newest_checkpoint(d) for d in root.rglob("checkpoints") if d.is_dir()}
    found.discard(None)
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def checkpoint_label(path: Path, root: str | os.PathLike = "exp") -> str:
    """``<experiment>/<step file>`` relative to ``root`` when inside it, else the path itself."""
    path = Path(path)
    exp_dir = path.parent.parent if path.parent.name == "checkpoints" else path.parent
    try:
        name = exp_dir.resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        name = str(exp_dir)
    return f"{name} ({path.name})"


class ConverterCache:
    """Loaded converters by checkpoint path, the ``size`` most recently used kept in memory.

    Switching experiments on the page then costs a load only the first time. Thread-safe: gradio runs
    handlers in worker threads.
    """

    def __init__(self, device: str | None = "cpu", vocoder: str | None = None, size: int = 3) -> None:
        self.device = device
        self.vocoder = vocoder
        self.size = size
        self._items: OrderedDict[Path, object] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, ckpt: str | os.PathLike):
        """The :class:`vc.convert.Converter` of ``ckpt``, loaded on first use."""
        import vc

        key = Path(ckpt).resolve()
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            conv = vc.load(key, vocoder=self.vocoder, device=self.device)
            self._items[key] = conv
            while len(self._items) > self.size:
                self._items.popitem(last=False)
            return conv


@dataclass
class Workspace:
    """A private folder holding one sub-folder per request; old requests are pruned as new ones come.

    Gradio serves the returned files from here (it is passed to ``launch(allowed_paths=...)``).
    """

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="vc-ui-")))
    keep_seconds: float = 3600.0

    def request_dir(self) -> Path:
        """A fresh, empty request folder (and requests older than ``keep_seconds`` removed)."""
        self.root.mkdir(parents=True, exist_ok=True)
        now = time.time()
        for old in self.root.iterdir():
            try:
                if old.is_dir() and now - old.stat().st_mtime > self.keep_seconds:
                    shutil.rmtree(old, ignore_errors=True)
            except OSError:
                pass  # a concurrent prune got there first
        return Path(tempfile.mkdtemp(prefix="req-", dir=self.root))

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def _clean_message(exc: VCError, names: dict[str, str]) -> str:
    """The error's first line with server-side temp paths replaced by the names the user knows."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    for path, name in names.items():
        text = text.replace(path, name)
    return text


class UserError(VCError):
    """A :class:`VCError` whose message is ready for the page (temp paths already replaced)."""


def check_upload(path: str | os.PathLike | None, what: str, max_seconds: float = MAX_SOURCE_SECONDS) -> Path:
    """``path`` as a Path after checking it is a readable audio file of at most ``max_seconds``.

    Raises:
        AudioError: nothing uploaded, not audio, or too long (checked from the header, no decoding).
    """
    from vc.audio import duration

    if not path:
        raise AudioError(f"no {what} clip: upload or record one")
    path = Path(path)
    seconds = duration(path)
    if seconds > max_seconds:
        raise AudioError(f"{path}: too long for the page ({seconds:.1f} s > {max_seconds:g} s); "
                         "use vc-convert for long files")
    return path


def _check_styles(num_styles: int, ref) -> int:
    k = int(num_styles)
    if not 1 <= k <= MAX_STYLES:
        raise ConfigError(f"number of styles must be between 1 and {MAX_STYLES}, got {k}")
    if ref is not None and k != 1:
        raise ConfigError("a reference clip gives one style: set the number of styles to 1")
    return k


@dataclass
class Result:
    """One conversion request's outputs: ``wavs`` (K files), ``plot`` (PNG) and a status line."""

    wavs: list[Path]
    plot: Path | None
    message: str


def plot_source_result(path: Path, conv, source: np.ndarray, results: list[np.ndarray]) -> Path:
    """Spectrograms of ``source`` and each result ``(T,)`` at ``conv.sample_rate``, then their F0
    contours (pyworld, ``conv.features`` settings), in one PNG: the evaluation report's picture."""
    from vc.eval.report import plot_pair
    from vc.features.world import f0

    cfg = conv.features
    clips = [("source", source)] + [(f"result {k + 1}" if len(results) > 1 else "result", w)
                                    for k, w in enumerate(results)]
    clips = clips[:MAX_PLOT_CLIPS]
    f0s = [(label, f0(w, cfg)) for label, w in clips]
    plot_pair(path, clips, f0s, conv.sample_rate, cfg.frame_period_ms)
    return path


def convert_clip(conv, out_dir: Path, src: str | os.PathLike | None, target: str | None = None,
                 ref: str | os.PathLike | None = None, seed: int = 0, num_styles: int = 1,
                 plot: bool = True) -> Result:
    """Convert one uploaded clip into ``out_dir``: K wavs (seeds ``seed..seed+K-1``) and a picture.

    With ``ref`` the style is read off that clip (style encoder; K must be 1): on a model with a shared
    style head (``conv.any_to_any``) it is the clip's own voice; otherwise ``target``, when not given,
    is the training voice the model judges closest to it. On a user mistake ``out_dir`` is
    removed and a :class:`UserError` with a one-line, path-free message is raised.
    """
    from vc.audio import load, save

    names = {}
    try:
        if src:
            names[str(src)] = f"source {Path(src).name!r}"
        if ref:
            names[str(ref)] = f"reference {Path(ref).name!r}"
        src = check_upload(src, "source")
        k = _check_styles(num_styles, ref)
        if ref is not None:
            ref = check_upload(ref, "reference")
            if target is None and not conv.any_to_any:
                target = conv.judge(ref)
        if target is None and ref is None:
            raise ConfigError("choose a target voice")
        if target is not None:
            conv.domain_index(target)
        wav = load(src, conv.sample_rate)
        outs, paths = [], []
        stem = _safe_stem(Path(src).stem)
        for i in range(k):
            out, sr = conv(wav, sr=conv.sample_rate, target=target, ref=ref, seed=int(seed) + i)
            dest = out_dir / (f"{stem}_to_{target or 'ref'}" + (f"_seed{int(seed) + i}" if ref is None else "_ref")
                              + ".wav")
            save(dest, out, sr)
            outs.append(out)
            paths.append(dest)
        picture = plot_source_result(out_dir / "picture.png", conv, wav, outs) if plot else None
    except VCError as exc:
        shutil.rmtree(out_dir, ignore_errors=True)
        raise UserError(_clean_message(exc, names)) from None
    except BaseException:
        shutil.rmtree(out_dir, ignore_errors=True)
        raise
    if ref is not None and target is None:
        how = "the voice of the reference clip (its style and pitch)"
    elif ref is not None:
        how = f"reference clip, closest training voice {target} (style of the clip)"
    else:
        how = f"{target} (seed {int(seed)})" if k == 1 else f"{target} (seeds {int(seed)}..{int(seed) + k - 1})"
    msg = f"converted {len(wav) / conv.sample_rate:.1f} s to {how}"
    return Result(paths, picture, msg)


def _safe_stem(stem: str) -> str:
    """A file-name stem with anything but letters, digits, ``-``, ``_`` and ``.`` replaced."""
    return re.sub(r"[^\w.-]+", "_", stem).strip("._") or "clip"


def convert_batch(conv, out_dir: Path, files: list[str | os.PathLike], target: str | None,
                  seed: int = 0) -> tuple[Path, str]:
    """Convert every file to ``target`` and zip the results as ``out_dir/conversions.zip``.

    A bad file is skipped and named in the message (and in ``failed.txt`` inside the zip), as
    ``vc-convert`` does in batch mode. The zip is written to a temporary file and renamed, so it is
    never seen half-written. Returns ``(zip path, message)``.

    Raises:
        UserError: no files, too many, no or unknown target, or every file failed (``out_dir`` removed).
    """
    from vc.audio import load, save
    from vc.io import atomic_path

    try:
        if not files:
            raise AudioError("no files: upload one or more audio files")
        if len(files) > MAX_BATCH_FILES:
            raise ConfigError(f"too many files ({len(files)} > {MAX_BATCH_FILES}); use vc-convert --src-dir")
        if not target:
            raise ConfigError("choose a target voice")
        conv.domain_index(target)
        wav_dir = out_dir / "wav"
        written: list[tuple[Path, str]] = []
        failed: list[str] = []
        used: set[str] = set()
        for f in files:
            name = Path(f).name
            try:
                wav = load(check_upload(f, "source"), conv.sample_rate)
                out, sr = conv(wav, sr=conv.sample_rate, target=target, seed=int(seed))
            except VCError as exc:
                failed.append(f"{name}: {_clean_message(exc, {str(f): name})}")
                continue
            arc = f"{_safe_stem(Path(f).stem)}_to_{target}.wav"
            n = 1
            while arc in used:  # two uploads with the same name must not overwrite each other
                n += 1
                arc = f"{_safe_stem(Path(f).stem)}_{n}_to_{target}.wav"
            used.add(arc)
            dest = wav_dir / arc
            save(dest, out, sr)
            written.append((dest, arc))
        if not written:
            raise UserError("no file could be converted: " + "; ".join(failed))
        zip_path = out_dir / "conversions.zip"
        with atomic_path(zip_path) as tmp:
            with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                for dest, arc in written:
                    zf.write(dest, arc)
                if failed:
                    zf.writestr("failed.txt", "\n".join(failed) + "\n")
        shutil.rmtree(wav_dir, ignore_errors=True)
    except UserError:
        shutil.rmtree(out_dir, ignore_errors=True)
        raise
    except VCError as exc:
        shutil.rmtree(out_dir, ignore_errors=True)
        raise UserError(_clean_message(exc, {})) from None
    except BaseException:
        shutil.rmtree(out_dir, ignore_errors=True)
        raise
    msg = f"converted {len(written)} of {len(files)} file(s) to {target}"
    if failed:
        msg += "; skipped: " + "; ".join(failed)
    return zip_path, msg
