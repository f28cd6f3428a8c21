"""The prepared dump directory: its layout, feature caches, manifests, and the :class:`Dump` reader.

Layout (``data.dump_dir``)::

    domains.json          {"domains": [...], "fingerprint": ..., "features": {...}, "cache_format": ...}
                          written last: its presence marks a complete dump
    manifest/all.tsv      utt_id  domain  path  duration  text   (header line, then one row per clip)
    manifest/{train,dev,test}.tsv
    rejected.tsv          path  reason
    feats/<utt_id>.h5     datasets feats (N, Q), f0 (N,), [ap (N, A)]; attrs fingerprint, features,
                          duration, source   (``cache_format: npy``: feats/<utt_id>.npz, same names)
    stats.h5              mean, scale (parallel-wavegan format) + per-domain lf0 statistics
    features.yaml         the FeatureConfig the dump was made with
    config.yaml           the resolved experiment config of the last vc-prep run
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import yaml

from vc.errors import DataError, FingerprintError
from vc.features.config import FeatureConfig, check_fingerprint
from vc.features.extract import Features
from vc.features.stats import Stats
from vc.io import atomic_path, write_text_atomic

SPLITS = ("train", "dev", "test")
MANIFEST_COLUMNS = ("utt_id", "domain", "path", "duration", "text")
CACHE_SUFFIX = {"h5": ".h5", "npy": ".npz"}


@dataclass(frozen=True)
class Utterance:
    """One row of a manifest. ``duration`` is in seconds, after silence trimming."""

    utt_id: str
    domain: str
    path: str
    duration: float
    text: str = ""


# --- feature caches --------------------------------------------------------------------------------
def write_cache(path: str | os.PathLike, feats: Features, cfg: FeatureConfig, meta: dict[str, Any]) -> None:
    """Write one utterance's features atomically; the format follows the suffix (``.h5``/``.npz``).

    ``meta`` (JSON-able scalars, e.g. duration and source) is stored next to the fingerprint and the
    feature config.
    """
    path = Path(path)
    attrs = {"fingerprint": cfg.fingerprint(), "features": json.dumps(cfg.to_dict(), sort_keys=True)}
    attrs.update({k: json.dumps(v) for k, v in meta.items()})
    arrays = {"feats": feats.feats, "f0": feats.f0}
    if feats.ap is not None:
        arrays["ap"] = feats.ap
    with atomic_path(path) as tmp:
        if path.suffix == ".npz":
            with open(tmp, "wb") as f:
                np.savez(f, **arrays, attrs=np.array(json.dumps(attrs)))
        else:
            with h5py.File(tmp, "w") as h5:
                for name, value in arrays.items():
                    h5.create_dataset(name, data=value)
                for key, value in attrs.items():
                    h5.attrs[key] = value


def _decode_attrs(attrs: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {"fingerprint": attrs.get("fingerprint")}
    for key, value in attrs.items():
        if key == "fingerprint":
            continue
        out[key] = json.loads(value)
    return out


def cache_meta(path: str | os.PathLike) -> dict[str, Any] | None:
    """The attributes of a cache file (fingerprint, features, duration, ...), or None if unreadable."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                return _decode_attrs(json.loads(str(z["attrs"])))
        with h5py.File(path, "r") as h5:
            return _decode_attrs({k: str(v) for k, v in h5.attrs.items()})
    except (OSError, KeyError, ValueError):
        return None


def read_cache(path: str | os.PathLike, cfg: FeatureConfig | None = None) -> Features:
    """Read one utterance's features; with ``cfg``, refuse a cache made with other feature settings.

    Raises:
        DataError: missing or unreadable. FingerprintError: different feature settings.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: feature cache not found; re-run vc-prep")
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files if k != "attrs"}
                attrs = _decode_attrs(json.loads(str(z["attrs"])))
        else:
            with h5py.File(path, "r") as h5:
                arrays = {k: h5[k][()] for k in h5.keys()}
                attrs = _decode_attrs({k: str(v) for k, v in h5.attrs.items()})
    except (OSError, KeyError, ValueError) as exc:
        raise DataError(f"{path}: unreadable feature cache ({exc}); delete it and re-run vc-prep") from None
    if cfg is not None and attrs.get("fingerprint") != cfg.fingerprint():
        check_fingerprint(cfg, attrs.get("features") or {}, str(path))
        raise FingerprintError(f"{path}: feature fingerprint {attrs.get('fingerprint')} != {cfg.fingerprint()}")
    try:
        return Features(feats=arrays["feats"], f0=arrays["f0"], ap=arrays.get("ap"))
    except (KeyError, ValueError) as exc:
        raise DataError(f"{path}: malformed feature cache ({exc}); delete it and re-run vc-prep") from None


# --- manifests -------------------------------------------------------------------------------------
def _clean(text: str) -> str:
    return " ".join(str(text).split())  # no tabs or newlines inside a TSV field


def write_manifest(path: str | os.PathLike, utts: list[Utterance]) -> None:
    lines = ["\t".join(MANIFEST_COLUMNS)]
    for u in utts:
        lines.append("\t".join([u.utt_id, u.domain, _clean(u.path), f"{u.duration:.3f}", _clean(u.text)]))
    write_text_atomic(path, "\n".join(lines) + "\n")


def read_manifest(path: str | os.PathLike) -> list[Utterance]:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: manifest not found; re-run vc-prep")
    utts = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or (number == 1 and line.startswith("utt_id\t")):
            continue
        fields = line.split("\t")
        if len(fields) < 4:
            raise DataError(f"{path}:{number}: malformed manifest line")
        fields += [""] * (5 - len(fields))
        try:
            utts.append(Utterance(fields[0], fields[1], fields[2], float(fields[3]), fields[4]))
        except ValueError:
            raise DataError(f"{path}:{number}: malformed duration {fields[3]!r}") from None
    return utts


# --- the reader ------------------------------------------------------------------------------------
class Dump:
    """A prepared dump directory, checked against the feature settings in use.

    Args:
        dump_dir: the ``data.dump_dir`` written by ``vc-prep``.
        features_cfg: the current feature config; a dump made with other settings is refused.
            None accepts whatever the dump was made with (see :attr:`features_cfg`).

    Raises:
        DataError: not a prepared dump. FingerprintError: made with different feature settings.
    """

    def __init__(self, dump_dir: str | os.PathLike, features_cfg: FeatureConfig | None = None) -> None:
        self.dir = Path(dump_dir)
        info_path = self.dir / "domains.json"
        if not info_path.is_file():
            raise DataError(f"{self.dir}: not a prepared dump (no domains.json); run vc-prep first")
        try:
            info = json.loads(info_path.read_text(encoding="utf-8"))
            stored = info["features"]
            self.domains: list[str] = list(info["domains"])
        except (ValueError, KeyError, TypeError):
            raise DataError(f"{info_path}: unreadable; re-run vc-prep") from None
        if features_cfg is not None:
            check_fingerprint(features_cfg, stored, str(self.dir))
        self.features_cfg: FeatureConfig = features_cfg or FeatureConfig.from_stored(stored)
        self.fingerprint: str = self.features_cfg.fingerprint()
        self.cache_suffix = CACHE_SUFFIX.get(info.get("cache_format", "h5"), ".h5")
        self._stats: Stats | None = None
        self._manifests: dict[str, list[Utterance]] = {}

    def __repr__(self) -> str:
        return f"Dump({str(self.dir)!r}, domains={self.domains})"

    @property
    def num_domains(self) -> int:
        return len(self.domains)

    def domain_index(self, domain: str) -> int:
        try:
            return self.domains.index(domain)
        except ValueError:
            raise DataError(f"{self.dir}: unknown domain {domain!r}; known: {', '.join(self.domains)}") from None

    @property
    def stats(self) -> Stats:
        """Feature and log-F0 statistics of the training split (``stats.h5``)."""
        if self._stats is None:
            self._stats = Stats.load(self.dir / "stats.h5", self.features_cfg)
        return self._stats

    def utterances(self, split: str = "train") -> list[Utterance]:
        """The manifest of ``split`` (``train``, ``dev``, ``test``, ``all`` or ``unseen``: the held-out
        domains of ``data.unseen_domains``, empty when there are none)."""
        if split not in (*SPLITS, "all", "unseen"):
            raise DataError(f"unknown split {split!r}; choose train, dev, test, all or unseen")
        if split == "unseen" and not (self.dir / "manifest" / "unseen.tsv").is_file():
            return []  # a dump written before held-out domains existed
        if split not in self._manifests:
            self._manifests[split] = read_manifest(self.dir / "manifest" / f"{split}.tsv")
        return list(self._manifests[split])

    def cache_path(self, utt_id: str) -> Path:
        return self.dir / "feats" / f"{utt_id}{self.cache_suffix}"

    def load(self, utt_id: str) -> Features:
        """Features of one utterance: ``feats (N, Q)``, ``f0 (N,)``, ``ap (N, A)`` or None."""
        return read_cache(self.cache_path(utt_id), self.features_cfg)

    def rejected(self) -> list[tuple[str, str]]:
        """``(path, reason)`` of the files vc-prep could not use."""
        path = self.dir / "rejected.tsv"
        if not path.is_file():
            return []
        rows = []
        for line in path.read_text(encoding="utf-8").splitlines()[1:]:
            p, _, reason = line.partition("\t")
            rows.append((p, reason))
        return rows


def write_features_yaml(path: str | os.PathLike, cfg: FeatureConfig) -> None:
    write_text_atomic(path, yaml.safe_dump(cfg.to_dict(), sort_keys=False))
