"""Corpus readers: each turns a corpus layout into ``(path, label, text)`` triples.

``label`` is the speaker (VCTK) or top-level folder (generic) or the list's domain column; a
``data.domain_map`` may then map labels onto domains. ``text`` is the transcript or ``""``.

Layouts (``data.format``):

* ``vctk``: VCTK 0.80 ``<root>/wav48/pXXX/*.wav`` with ``<root>/txt/pXXX/*.txt``; VCTK 0.92
  ``<root>/wav48_silence_trimmed/pXXX/*_<mic>.flac`` with ``<root>/txt/``; or, when neither folder
  exists, a flat VCTK-like tree ``<root>/pXXX/pXXX_NNN.wav`` with an optional ``<root>/transcripts.tsv``
  (``utt_id<TAB>text``).
* ``generic``: ``<root>/<label>/**/*.{wav,flac,mp3,ogg}`` (any case); text from a sibling
  ``.txt`` or ``.lab`` file with the same stem.
* ``list``: a text file of ``path|label[|text]`` lines; relative paths resolve against the list
  file's folder; blank lines and ``#`` comments are skipped.

:func:`utterance_ids` gives every file a unique, file-name-safe utterance id.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from vc.audio import AUDIO_EXTENSIONS
from vc.errors import DataError

Item = tuple[Path, str, str]
"""(audio path, label, transcript or "")."""


def expand(path: str) -> Path:
    """``$VARS`` and ``~`` expanded."""
    return Path(os.path.expandvars(os.path.expanduser(path)))


def _is_audio(p: Path) -> bool:
    return p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file() and not p.name.startswith(".")


def _read_text(path: Path) -> str:
    try:
        return " ".join(path.read_text(encoding="utf-8", errors="replace").split())
    except OSError:
        return ""


def _speaker_dirs(base: Path) -> list[Path]:
    return sorted(d for d in base.iterdir() if d.is_dir() and not d.name.startswith("."))


def read_vctk(root: Path, mic: str = "mic1") -> Iterator[Item]:
    """VCTK 0.80, 0.92 or a flat VCTK-like tree (see the module docstring)."""
    if not root.is_dir():
        raise DataError(f"data.root {root}: corpus folder not found")
    txt_root = root / "txt"
    v092, v080 = root / "wav48_silence_trimmed", root / "wav48"
    if v092.is_dir():
        suffix = f"_{mic}"
        for spk in _speaker_dirs(v092):
            for p in sorted(spk.glob(f"*{suffix}.flac")):
                stem = p.stem[: -len(suffix)]
                yield p, spk.name, _read_text(txt_root / spk.name / f"{stem}.txt")
    elif v080.is_dir():
        for spk in _speaker_dirs(v080):
            for p in sorted(q for q in spk.iterdir() if q.suffix.lower() == ".wav" and _is_audio(q)):
                yield p, spk.name, _read_text(txt_root / spk.name / f"{p.stem}.txt")
    else:
        texts = read_transcripts_tsv(root / "transcripts.tsv")
        for spk in _speaker_dirs(root):
            if spk.name == "txt":
                continue
            for p in sorted(q for q in spk.iterdir() if _is_audio(q)):
                text = texts.get(p.stem) or _read_text(txt_root / spk.name / f"{p.stem}.txt")
                yield p, spk.name, text


def read_transcripts_tsv(path: Path) -> dict[str, str]:
    """``utt_id<TAB>text`` lines (a header line ``utt_id<TAB>text`` is skipped); {} if absent."""
    if not path.is_file():
        return {}
    texts = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        utt, _, text = line.partition("\t")
        if utt.strip() and utt.strip() != "utt_id":
            texts[utt.strip()] = text.strip()
    return texts


def read_generic(root: Path) -> Iterator[Item]:
    """``<root>/<label>/**/<audio>`` with optional sibling ``.txt``/``.lab`` transcripts."""
    if not root.is_dir():
        raise DataError(f"data.root {root}: corpus folder not found")
    for label_dir in _speaker_dirs(root):
        files = sorted(
            p
            for p in label_dir.rglob("*")
            if _is_audio(p) and not any(part.startswith(".") for part in p.relative_to(label_dir).parts)
        )
        for p in files:
            text = ""
            for ext in (".txt", ".lab"):
                if p.with_suffix(ext).is_file():
                    text = _read_text(p.with_suffix(ext))
                    break
            yield p, label_dir.name, text


def read_list(list_file: Path) -> Iterator[Item]:
    """``path|label[|text]`` lines; a malformed line is a DataError naming the file and line."""
    if not list_file.is_file():
        raise DataError(f"data.root {list_file}: list file not found")
    base = list_file.parent
    try:
        lines = list_file.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise DataError(f"{list_file}: not a UTF-8 text file") from None
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        fields = [f.strip() for f in stripped.split("|", 2)]
        if len(fields) < 2 or not fields[0] or not fields[1]:
            raise DataError(f"{list_file}:{number}: expected path|domain[|text], got {stripped!r}")
        path = expand(fields[0])
        yield (path if path.is_absolute() else base / path), fields[1], fields[2] if len(fields) > 2 else ""


def read_corpus(fmt: str, root: str, vctk_mic: str = "mic1") -> list[Item]:
    """All items of a corpus, in a deterministic (sorted) order."""
    if not root:
        raise DataError("data.root is empty: set it to the corpus folder (or list file)")
    path = expand(root)
    if fmt == "vctk":
        items = list(read_vctk(path, vctk_mic))
    elif fmt == "generic":
        items = list(read_generic(path))
    elif fmt == "list":
        items = list(read_list(path))
    else:
        raise DataError(f"data.format {fmt!r}: unknown corpus format")
    return sorted(items, key=lambda it: (it[1], str(it[0])))


def read_domain_map(path: str) -> dict[str, str]:
    """``label<TAB>domain`` lines (blank lines and ``#`` comments skipped); DataError if malformed."""
    p = expand(path)
    if not p.is_file():
        raise DataError(f"data.domain_map {p}: file not found")
    mapping: dict[str, str] = {}
    for number, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        # Tabs separate the columns; a file without tabs may use spaces (labels have none).
        fields = [f.strip() for f in re.split(r"\t+" if "\t" in stripped else r"\s+", stripped)]
        if len(fields) != 2 or not all(fields):
            raise DataError(f"{p}:{number}: expected label<TAB>domain, got {stripped!r}")
        label, domain = fields
        if mapping.get(label, domain) != domain:
            raise DataError(f"{p}:{number}: label {label!r} mapped to both {mapping[label]!r} and {domain!r}")
        mapping[label] = domain
    return mapping


_UNSAFE = re.compile(r"[^\w.-]+")


def safe_name(text: str) -> str:
    """File-name-safe version of ``text`` (unicode letters kept)."""
    return _UNSAFE.sub("_", text).strip("._") or "utt"


def utterance_ids(items: list[tuple[Path, str]], vctk_mic: str | None = None) -> list[str]:
    """A unique id per ``(path, domain)``: the stem, prefixed with the domain where stems collide.

    ``vctk_mic`` strips the VCTK 0.92 microphone suffix (``p225_001_mic1`` -> ``p225_001``). Remaining
    collisions (same stem twice in one domain) get ``-2``, ``-3``... in item order.
    """
    stems = []
    for path, _ in items:
        stem = path.stem
        if vctk_mic and stem.endswith(f"_{vctk_mic}"):
            stem = stem[: -len(vctk_mic) - 1]
        stems.append(safe_name(stem))
    counts = Counter(stems)
    ids = [s if counts[s] == 1 else f"{safe_name(d)}_{s}" for s, (_, d) in zip(stems, items)]
    seen: Counter[str] = Counter()
    out = []
    for i in ids:
        seen[i] += 1
        out.append(i if seen[i] == 1 else f"{i}-{seen[i]}")
    # A suffixed id could coincide with a genuine stem; vanishingly rare, but make it impossible.
    if len(set(out)) != len(out):
        out = [f"{i}-{n}" for n, i in enumerate(out)]
    return out
