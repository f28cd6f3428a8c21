"""Corpus preparation settings (the ``data:`` section)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass
class DataConfig:
    format: Literal["vctk", "generic", "list"] = "generic"
    """``vctk``: VCTK 0.80 (wav48/) or 0.92 (wav48_silence_trimmed/, flac). ``generic``:
    ``<root>/<domain>/**/*.{wav,flac,mp3,ogg}``. ``list``: a file of ``path|domain[|text]`` lines."""
    root: str = ""
    """Corpus root (or the list file for ``format: list``). ``$VARS`` and ``~`` are expanded."""
    vctk_mic: str = "mic1"
    """VCTK 0.92 only: which microphone's flac files to read (``mic1`` or ``mic2``)."""
    domains: list[str] = field(default_factory=list)
    """Selects and orders the domains. Empty: every domain found, sorted."""
    missing_domains: Literal["error", "skip"] = "error"
    """What to do when a domain listed in ``domains`` is not in the corpus: ``error`` (the default)
    refuses, ``skip`` leaves it out with a printed note, so one config also runs on a partial corpus
    (e.g. a few speakers of VCTK). At least one listed domain must be found either way."""
    domain_map: str = ""
    """Optional two-column file ``label<TAB>domain`` mapping a speaker (or any folder/list label)
    onto a domain, e.g. Tibetan speakers onto dialects."""
    dump_dir: str = "dump"
    """Where manifests, the domain map, feature caches and statistics are written."""
    cache_format: Literal["h5", "npy"] = "h5"

    trim: bool = True
    """Trim leading and trailing silence (librosa.effects.trim)."""
    trim_top_db: float = 30.0
    min_duration: float = 0.3
    """Seconds; shorter clips (after trimming) are rejected."""
    max_duration: float = 30.0
    """Seconds; longer clips are rejected at preparation (conversion has its own, larger limit)."""

    dev_per_domain: int = 1
    test_per_domain: int = 1
    test_utts: list[str] = field(default_factory=list)
    """Shell-style patterns on utterance ids (``p2*_02[1-3]``): the matching utterances, and only they,
    form the test split (``test_per_domain`` is then not used). For parallel corpora: hold out the
    same sentences of every speaker, so conversions can be scored against the target's real one."""
    unseen_domains: list[str] = field(default_factory=list)
    """Shell-style patterns on domain names (``p2[5-9]*``): the matching domains are held out
    entirely, a speaker-disjoint split for any-to-any conversion. They are not training domains; their
    utterances (features extracted as for the rest) are listed in ``manifest/unseen.tsv`` for
    ``vc-eval --refs unseen``."""
    split_seed: int = 0
    num_workers: int = 0
    """Feature extraction processes; 0 uses every core."""
