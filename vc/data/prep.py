"""Corpus preparation: read a corpus, extract features in parallel, split, and compute statistics.

:func:`prepare` (CLI ``vc-prep``) goes through these steps, writing the layout of :mod:`vc.data.dump`:

1. read the corpus (:mod:`vc.data.readers`), map labels onto domains (``data.domain_map``) and
   select the domains (``data.domains``);
2. per file, in worker processes: load and resample, trim silence, check the duration, extract
   features, write the cache atomically. A cache that already holds the current fingerprint for the
   same source file and trimming is reused, so an interrupted run resumes where it stopped. A file
   that cannot be used goes into ``rejected.tsv`` with the reason, and preparation carries on;
3. split each domain into train/dev/test from ``data.split_seed`` (independent of file-system order);
4. accumulate feature and log-F0 statistics over the training split, one utterance at a time;
5. write the manifests, ``stats.h5``, ``features.yaml``, ``config.yaml`` and finally ``domains.json``,
   whose presence marks the dump as complete.
"""

from __future__ import annotations

import fnmatch
import random
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vc.data import readers
from vc.data.dump import (
    CACHE_SUFFIX,
    SPLITS,
    Utterance,
    cache_meta,
    read_cache,
    write_cache,
    write_features_yaml,
    write_manifest,
)
from vc.errors import AudioError, DataError, VCError
from vc.features.config import FeatureConfig
from vc.io import write_json_atomic, write_text_atomic
from vc.parallel import map_progress


@dataclass
class PrepResult:
    """What :func:`prepare` did.

    Attributes:
        dump_dir: the dump written.
        domains: domain names in index order.
        counts: ``counts[split][domain]`` utterances (splits ``train``, ``dev``, ``test``).
        rejected: ``(path, reason)`` of every unusable file.
        extracted, reused: feature caches computed in this run / kept from an earlier run.
        notes: things worth telling the user (excluded labels, shrunken splits...).
        seconds: wall-clock time of the run.
    """

    dump_dir: Path
    domains: list[str]
    counts: dict[str, dict[str, int]]
    rejected: list[tuple[str, str]] = field(default_factory=list)
    extracted: int = 0
    reused: int = 0
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    unseen: dict[str, int] = field(default_factory=dict)
    """Utterances per held-out domain (``data.unseen_domains``), in ``manifest/unseen.tsv``."""

    def total(self, split: str) -> int:
        return sum(self.counts[split].values())

    def table(self) -> str:
        """Per-domain utterance counts, one line per domain."""
        width = max([len("domain"), *map(len, self.domains)])
        rows = [f"{'domain':<{width}}  {'train':>6} {'dev':>5} {'test':>5}"]
        for d in self.domains:
            rows.append(
                f"{d:<{width}}  {self.counts['train'][d]:>6} {self.counts['dev'][d]:>5} {self.counts['test'][d]:>5}"
            )
        return "\n".join(rows)

    def summary(self) -> str:
        """One line: domains, utterances per split, rejected count, dump dir."""
        return (
            f"{len(self.domains)} domains ({', '.join(self.domains)}); utterances: "
            f"train {self.total('train')}, dev {self.total('dev')}, test {self.total('test')}; "
            f"{len(self.rejected)} rejected; {self.extracted} extracted, {self.reused} reused; "
            + (f"{len(self.unseen)} unseen domains held out ({sum(self.unseen.values())} utterances); "
               if self.unseen else "")
            + f"dump: {self.dump_dir}"
        )


# --- per-file work (runs in worker processes) ------------------------------------------------------
@dataclass(frozen=True)
class _Job:
    utt_id: str
    path: str
    cache: str


@dataclass(frozen=True)
class _Opts:
    features: FeatureConfig
    trim: bool
    trim_top_db: float
    min_duration: float
    max_duration: float


@dataclass(frozen=True)
class _Outcome:
    utt_id: str
    path: str
    duration: float = 0.0
    reason: str = ""  # non-empty: rejected
    reused: bool = False


def _source_key(path: Path, opts: _Opts) -> dict[str, Any]:
    """What, besides the feature settings, decides a cache's content: the file and the trimming."""
    st = path.stat()
    return {
        "source": str(path),
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "trim": opts.trim,
        "trim_top_db": opts.trim_top_db if opts.trim else None,
    }


def _check_duration(seconds: float, opts: _Opts) -> None:
    if seconds < opts.min_duration:
        raise AudioError(f"too short after trimming silence ({seconds:.2f} s < min_duration {opts.min_duration:g} s)")
    if seconds > opts.max_duration:
        raise AudioError(f"too long ({seconds:.2f} s > max_duration {opts.max_duration:g} s)")


def _process(job: _Job, opts: _Opts) -> _Outcome:
    """Extract and cache one file's features, or say why it cannot be used."""
    from vc import audio
    from vc.features.extract import extract

    path = Path(job.path)
    try:
        key = _source_key(path, opts) if path.is_file() else None
        meta = cache_meta(job.cache) if key is not None else None
        if meta and meta.get("fingerprint") == opts.features.fingerprint() and meta.get("source_key") == key:
            _check_duration(float(meta["duration"]), opts)
            return _Outcome(job.utt_id, job.path, float(meta["duration"]), reused=True)

        sr = opts.features.sample_rate
        wav = audio.load(path, sr, min_duration=opts.min_duration, max_duration=opts.max_duration)
        if opts.trim:
            import librosa

            wav, _ = librosa.effects.trim(wav, top_db=opts.trim_top_db)
        seconds = len(wav) / sr
        _check_duration(seconds, opts)
        feats = extract(wav, opts.features)
        if not (np.isfinite(feats.feats).all() and np.isfinite(feats.f0).all()):
            raise AudioError("feature extraction gave non-finite values")
        write_cache(job.cache, feats, opts.features, {"duration": seconds, "source_key": key})
        return _Outcome(job.utt_id, job.path, seconds)
    except VCError as exc:
        reason = str(exc)
        if reason.startswith(f"{path}: "):  # the path has its own column in rejected.tsv
            reason = reason[len(str(path)) + 2 :]
        return _Outcome(job.utt_id, job.path, reason=reason)


def _warm_up(opts: _Opts) -> None:
    """Run the per-file pipeline once on a synthetic clip before forking, so every worker inherits
    the lazily imported and JIT-compiled librosa/numba code instead of paying ~2 s each."""
    import librosa

    from vc.features.extract import extract

    sr = opts.features.sample_rate
    t = np.arange(sr // 2) / sr
    wav = (0.3 * np.sin(2 * np.pi * 150 * t)).astype(np.float32)
    librosa.effects.trim(wav, top_db=opts.trim_top_db)
    extract(wav, opts.features)


# --- the pipeline ----------------------------------------------------------------------------------
_BAD_DOMAIN_CHARS = set("/\\\t\n\r")


def _check_domain_name(domain: str, where: str) -> None:
    if not domain or domain in (".", "..") or _BAD_DOMAIN_CHARS & set(domain):
        raise DataError(f"{where}: unusable domain name {domain!r} (no slashes, tabs or newlines)")


def held_out_domains(domains: list[str], patterns: list[str], notes: list[str] | None = None) -> list[str]:
    """The domains matched by the shell-style ``patterns`` (``data.unseen_domains``), in order: left
    out of training, their utterances in ``manifest/unseen.tsv`` (a speaker-disjoint split). A pattern
    that matches nothing is noted; holding out every domain is a DataError."""
    held = [d for d in domains if any(fnmatch.fnmatchcase(d, p) for p in patterns)]
    for p in patterns:
        if notes is not None and not any(fnmatch.fnmatchcase(d, p) for d in domains):
            notes.append(f"data.unseen_domains: {p!r} matches no domain")
    if held and len(held) == len(domains):
        raise DataError(f"data.unseen_domains holds out every domain ({', '.join(held)}); nothing is left to train on")
    return held


def split_utterances(
    utts: list[Utterance], domains: list[str], dev: int, test: int, seed: int,
    test_utts: list[str] | None = None,
) -> tuple[dict[str, list[Utterance]], list[str]]:
    """Per-domain train/dev/test split, reproducible from ``seed`` whatever the input order.

    Each domain's utterances are sorted by id and shuffled with a generator seeded by ``seed`` and the
    domain name; ``dev`` then ``test`` utterances are taken off, but at least one stays in train
    (dev is served before test when there are too few). With ``test_utts`` (shell-style patterns on
    utterance ids, e.g. the same sentences of every speaker of a parallel corpus), exactly the
    matching utterances are the test split and ``test`` is not used. Returns the splits and notes
    about shortfalls.
    """
    by_domain: dict[str, list[Utterance]] = defaultdict(list)
    for u in utts:
        by_domain[u.domain].append(u)
    splits: dict[str, list[Utterance]] = {s: [] for s in SPLITS}
    notes = []
    for d in domains:
        items = sorted(by_domain[d], key=lambda u: u.utt_id)
        if test_utts:
            held = [u for u in items if any(fnmatch.fnmatchcase(u.utt_id, p) for p in test_utts)]
            items = [u for u in items if u not in held]
            if not held:
                notes.append(f"domain {d}: no utterance matches data.test_utts, so it has no test utterance")
            splits["test"] += held
            test = 0
        random.Random(f"{seed}:{d}").shuffle(items)
        n_dev = min(dev, max(len(items) - 1, 0))
        n_test = min(test, max(len(items) - 1 - n_dev, 0))
        if (n_dev, n_test) != (dev, test):
            notes.append(
                f"domain {d}: only {len(items)} usable utterances, so dev {n_dev} and test {n_test} "
                f"(asked {dev} and {test}); at least one stays in train"
            )
        splits["dev"] += items[:n_dev]
        splits["test"] += items[n_dev : n_dev + n_test]
        splits["train"] += items[n_dev + n_test :]
    for s in SPLITS:
        splits[s].sort(key=lambda u: (domains.index(u.domain), u.utt_id))
    return splits, notes


def prepare(cfg: Any, progress: bool = True) -> PrepResult:
    """Prepare ``cfg.data`` (an :class:`~vc.config.ExperimentConfig`) into ``cfg.data.dump_dir``.

    ``progress`` shows a tqdm bar (on a terminal) while features are extracted.

    Raises:
        DataError: unreadable corpus, unknown selected domain (unless ``data.missing_domains`` is
            ``skip`` and at least one is found), or a selected domain left without usable audio
            (named in the message). ConfigError: bad settings.
    """
    from vc.config import save_config
    from vc.features.stats import StatsAccumulator

    t0 = time.time()
    data, features = cfg.data, cfg.features
    notes: list[str] = []
    dump_dir = readers.expand(data.dump_dir)
    if dump_dir.exists() and not dump_dir.is_dir():
        raise DataError(f"data.dump_dir {dump_dir}: exists and is not a folder")

    # 1. Corpus -> (path, domain, text), selected and ordered.
    items = readers.read_corpus(data.format, data.root, data.vctk_mic)
    if not items:
        raise DataError(f"data.root {readers.expand(data.root)}: no audio files found for format {data.format!r}")
    if data.domain_map:
        mapping = readers.read_domain_map(data.domain_map)
        unmapped = Counter(label for _, label, _ in items if label not in mapping)
        if unmapped:
            notes.append(
                f"{sum(unmapped.values())} files with labels missing from data.domain_map excluded "
                f"({', '.join(sorted(unmapped))})"
            )
        items = [(p, mapping[label], text) for p, label, text in items if label in mapping]
    found = sorted({d for _, d, _ in items})
    for d in found:
        _check_domain_name(d, data.domain_map or data.root)
    if data.domains:
        dupes = [d for d, n in Counter(data.domains).items() if n > 1]
        if dupes:
            raise DataError(f"data.domains lists {', '.join(dupes)} more than once")
        missing = [d for d in data.domains if d not in found]
        if missing and (data.missing_domains == "error" or len(missing) == len(data.domains)):
            raise DataError(
                f"data.domains: {', '.join(missing)} not found in {readers.expand(data.root)}; "
                f"found: {', '.join(found) or 'none'}"
            )
        if missing:
            notes.append(
                f"data.domains: {', '.join(missing)} not found in {readers.expand(data.root)}; skipped "
                f"(data.missing_domains: skip), using {len(data.domains) - len(missing)} of {len(data.domains)}"
            )
        domains = [d for d in data.domains if d in found]
    else:
        domains = found
    if not domains:
        raise DataError(f"data.root {readers.expand(data.root)}: no domains found")
    unseen = held_out_domains(domains, data.unseen_domains, notes)
    domains = [d for d in domains if d not in unseen]
    items = [it for it in items if it[1] in domains or it[1] in unseen]
    ids = readers.utterance_ids(
        [(p, d) for p, d, _ in items], vctk_mic=data.vctk_mic if data.format == "vctk" else None
    )

    # 2. Features, in parallel; an existing dump is invalid until this run completes.
    (dump_dir / "domains.json").unlink(missing_ok=True)
    feats_dir = dump_dir / "feats"
    feats_dir.mkdir(parents=True, exist_ok=True)
    suffix = CACHE_SUFFIX[data.cache_format]
    jobs = [_Job(u, str(p.absolute()), str(feats_dir / f"{u}{suffix}")) for u, (p, _, _) in zip(ids, items)]
    opts = _Opts(features, data.trim, data.trim_top_db, data.min_duration, data.max_duration)
    outcomes = {o.utt_id: o for o in map_progress(_process, jobs, opts, data.num_workers, desc="features",
                                                   unit="utt", progress=progress, warm_up=_warm_up)}

    utts, unseen_utts, rejected = [], [], []
    for u, (_, d, text) in zip(ids, items):
        o = outcomes[u]
        if o.reason:
            rejected.append((o.path, o.reason))
        else:
            (unseen_utts if d in unseen else utts).append(Utterance(u, d, o.path, o.duration, text))
    rows = ["path\treason"] + [f"{p}\t{' '.join(r.split())}" for p, r in rejected]
    write_text_atomic(dump_dir / "rejected.tsv", "\n".join(rows) + "\n")
    usable = Counter(u.domain for u in utts)
    empty = [d for d in domains if usable[d] == 0]
    if empty:
        raise DataError(
            f"domain{'s' if len(empty) > 1 else ''} {', '.join(empty)}: no usable audio "
            f"(see {dump_dir / 'rejected.tsv'})"
        )

    # 3. Splits and manifests.
    splits, split_notes = split_utterances(utts, domains, data.dev_per_domain, data.test_per_domain, data.split_seed,
                                           data.test_utts)
    notes += split_notes
    write_manifest(dump_dir / "manifest" / "all.tsv", sorted(utts, key=lambda u: (domains.index(u.domain), u.utt_id)))
    for s in SPLITS:
        write_manifest(dump_dir / "manifest" / f"{s}.tsv", splits[s])
    write_manifest(dump_dir / "manifest" / "unseen.tsv",
                   sorted(unseen_utts, key=lambda u: (unseen.index(u.domain), u.utt_id)))

    # 4. Statistics over the training split, streamed from the caches.
    acc = StatsAccumulator(features.dim, domains)
    for u in splits["train"]:
        f = read_cache(feats_dir / f"{u.utt_id}{suffix}", features)
        acc.add(f.feats, f.f0, u.domain)
    stats = acc.finish()
    for d in acc.unvoiced_domains():
        notes.append(f"domain {d}: no voiced training frames; it uses the pooled log-F0 statistics")
    stats.save(dump_dir / "stats.h5", features)

    # 5. The rest, domains.json last.
    write_features_yaml(dump_dir / "features.yaml", features)
    save_config(cfg, dump_dir / "config.yaml")
    write_json_atomic(
        dump_dir / "domains.json",
        {
            "domains": domains,
            "fingerprint": features.fingerprint(),
            "features": features.to_dict(),
            "cache_format": data.cache_format,
        },
    )
    counts = {s: {d: sum(u.domain == d for u in splits[s]) for d in domains} for s in SPLITS}
    return PrepResult(
        dump_dir=dump_dir,
        domains=domains,
        counts=counts,
        rejected=rejected,
        extracted=sum(not o.reason and not o.reused for o in outcomes.values()),
        reused=sum(o.reused for o in outcomes.values()),
        notes=notes,
        seconds=time.time() - t0,
        unseen={d: sum(u.domain == d for u in unseen_utts) for d in unseen},
    )
