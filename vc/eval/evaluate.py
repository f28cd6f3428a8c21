"""Evaluate conversions: convert a split with a checkpoint, or score conversions made elsewhere.

    evaluate_checkpoint(ckpt, out_dir=None, split=None, cfg=None, ...) -> EvalResult
    evaluate_pairs(pairs_tsv, out_dir=None, cfg=None, dump=None, ...) -> EvalResult

Both write ``<out>/scores.json`` (per conversion, plus means with 95% confidence intervals per target
domain and overall), ``<out>/report.html`` with the audio under ``<out>/wav/`` and one spectrogram +
F0 picture per conversion under ``<out>/plots/``. The CPU-heavy per-pair work (F0, mel-cepstra, DTW,
pictures, classifier features) runs in worker processes; the domain classifier and the optional
extras (speaker similarity, DNSMOS, ASR) run in this process.
"""

from __future__ import annotations

import datetime
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import vc
from vc.config import ExperimentConfig, from_dict, to_dict
from vc.data.dump import Dump, Utterance
from vc.errors import ConfigError, DataError, VCError
from vc.eval import extras as ex
from vc.eval import metrics
from vc.eval.config import EvalConfig
from vc.features.config import FeatureConfig
from vc.io import write_json_atomic
from vc.parallel import map_progress

Log = Callable[[str], None]

#: Shorter clips are refused (a failed pair): too few frames for F0, DTW or a spectrogram.
MIN_SECONDS = 0.1
PAIR_COLUMNS = ("converted", "source", "src_domain", "tgt_domain", "target_ref", "text")
REQUIRED_COLUMNS = PAIR_COLUMNS[:4]


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _first_line(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0] if text else type(exc).__name__


# --- what to score ----------------------------------------------------------------------------------
@dataclass
class Pair:
    """One conversion to score: audio paths, domains, and what is known about it."""

    id: str
    converted: Path
    source: Path
    src_domain: str
    tgt_domain: str
    target_ref: Path | None = None
    text: str = ""
    line: int | None = None
    """Line of the pairs file it came from (pairs mode)."""


@dataclass
class EvalResult:
    out_dir: Path
    scores_path: Path
    report_path: Path
    scores: dict
    failed: list[dict] = field(default_factory=list)
    headline: str = ""
    verdict: str = ""
    """One line: vc against the statistical baseline (empty when no baseline was scored)."""
    pair_verdict: str = ""
    """One line: the domain pairs where that baseline is ahead with 95% confidence (:func:`pair_verdict`)."""
    gated_verdict: str = ""
    """One line: vc against the statistical conversion through the same silence gate (empty unless both
    it and the plain statistical baseline were scored; alone, it is what :attr:`verdict` weighs)."""


def _unique_ids(stems: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for stem in stems:
        stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in stem) or "pair"
        seen[stem] = seen.get(stem, 0) + 1
        out.append(stem if seen[stem] == 1 else f"{stem}_{seen[stem]}")
    return out


def read_pairs(path: str | os.PathLike) -> list[Pair]:
    """Read a pairs TSV: a header line naming the columns (``converted, source, src_domain, tgt_domain``
    required, ``target_ref`` and ``text`` optional, any order), then one conversion per line.

    Relative paths resolve against the file's folder; blank lines and ``#`` comments are skipped.
    Any malformed line is a :class:`ConfigError` naming the file and the line.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: pairs file not found")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: unreadable pairs file ({_first_line(exc)})") from None
    header: list[str] | None = None
    rows: list[tuple[int, dict[str, str]]] = []
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cols = [c.strip() for c in line.split("\t")]
        if header is None:
            names = [c.lower() for c in cols]
            unknown = [c for c in names if c not in PAIR_COLUMNS]
            missing = [c for c in REQUIRED_COLUMNS if c not in names]
            if missing or unknown or len(set(names)) != len(names):
                problem = (f"unknown column {unknown[0]!r}" if unknown else
                           f"missing column {missing[0]!r}" if missing else "a column is named twice")
                raise ConfigError(
                    f"{path}:{number}: the first line must be a tab-separated header naming the columns "
                    f"{', '.join(REQUIRED_COLUMNS)} (optionally target_ref, text); {problem}"
                )
            header = names
            continue
        if len(cols) > len(header):
            raise ConfigError(f"{path}:{number}: {len(cols)} tab-separated fields, but the header names {len(header)}")
        values = dict(zip(header, cols + [""] * (len(header) - len(cols))))
        empty = [c for c in REQUIRED_COLUMNS if not values[c]]
        if empty:
            raise ConfigError(f"{path}:{number}: empty {empty[0]} (expected {len(header)} tab-separated fields)")
        rows.append((number, values))
    if header is None:
        raise ConfigError(f"{path}: empty pairs file (expected a header line, then one conversion per line)")
    if not rows:
        raise ConfigError(f"{path}: no conversions listed")

    def resolve(p: str) -> Path:
        q = Path(os.path.expandvars(os.path.expanduser(p)))
        return q if q.is_absolute() else path.parent / q

    ids = _unique_ids([Path(v["converted"]).stem for _, v in rows])
    return [
        Pair(pid, resolve(v["converted"]), resolve(v["source"]), v["src_domain"], v["tgt_domain"],
             resolve(v["target_ref"]) if v.get("target_ref") else None, v.get("text", ""), number)
        for pid, (number, v) in zip(ids, rows)
    ]


# --- per-pair scoring (worker processes) ------------------------------------------------------------
@dataclass
class _Options:
    sr: int
    analysis: FeatureConfig
    """A WORLD FeatureConfig at the eval frame period, F0 method and range, and ``sr``."""
    order: int
    alpha: float
    silence_db: float
    clf_features: FeatureConfig | None
    clf_mean: np.ndarray | None = None
    clf_scale: np.ndarray | None = None


@dataclass
class _Job:
    index: int
    pair_id: str
    converted: str
    source: str
    target_ref: str | None
    plot: str | None
    title: str = ""


def _analyze(wav: np.ndarray, opts: _Options, with_mc: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """F0 ``(N,)`` and mel-cepstrum ``(N, M+1)`` (or None) at the eval frame period."""
    from vc.features import world

    f0 = world.f0(wav, opts.analysis)
    if not with_mc:
        return f0, None
    sp = world.spectral_envelope(wav, opts.analysis, f0)
    return f0, metrics.mel_cepstrum(sp, opts.order, opts.alpha)


def _score_pair(job: _Job, opts: _Options) -> dict:
    """Everything about one pair that needs no model: MCD, F0 scores, classifier features, picture."""
    from vc.audio import load
    from vc.eval.report import plot_pair

    out: dict = {"index": job.index}
    try:
        conv = load(job.converted, opts.sr, min_duration=MIN_SECONDS)
        src = load(job.source, opts.sr, min_duration=MIN_SECONDS)
        ref = load(job.target_ref, opts.sr, min_duration=MIN_SECONDS) if job.target_ref else None
    except VCError as exc:
        out["error"] = _first_line(exc)
        return out
    f0_c, mc_c = _analyze(conv, opts, with_mc=True)
    n_s = 1 + len(src) // opts.analysis.hop
    f0_s, mc_s = _analyze(src, opts, with_mc=abs(n_s - len(f0_c)) > max(2, 0.02 * max(n_s, len(f0_c))))
    a, b, how = metrics.align_f0(f0_s, f0_c, mc_s, mc_c)
    out.update(metrics.f0_scores(a, b))
    out["f0_alignment"] = how
    f0_r = None
    if ref is not None:
        f0_r, mc_r = _analyze(ref, opts, with_mc=True)
        out["mcd"], out["mcd_frames"] = metrics.mcd(mc_r, mc_c, opts.silence_db)
    if opts.clf_features is not None:
        from vc.eval.classifier import features_for_classifier

        feats = features_for_classifier(conv, opts.clf_features)
        out["clf_x"] = ((feats - opts.clf_mean) / opts.clf_scale).T.astype(np.float32)
    if job.plot:
        clips = [("source", src)] + ([("target reference", ref)] if ref is not None else []) + [("converted", conv)]
        f0s = [("source", f0_s)] + ([("target reference", f0_r)] if f0_r is not None else []) + [("converted", f0_c)]
        plot_pair(job.plot, clips, f0s, opts.sr, opts.analysis.frame_period_ms, job.title)
    return out


def _warm_up(opts: _Options) -> None:
    """Run the per-pair pipeline's lazy imports and JIT compilation (librosa's numba DTW) once before
    forking, so every worker inherits them instead of paying seconds each."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure  # noqa: F401

    t = np.arange(opts.sr // 4) / opts.sr
    wav = (0.3 * np.sin(2 * np.pi * 150 * t)).astype(np.float32)
    _, mc = _analyze(wav, opts, with_mc=True)
    metrics.dtw_path(mc[:4, 1:], mc[:5, 1:])
    if opts.clf_features is not None:
        from vc.eval.classifier import features_for_classifier

        features_for_classifier(wav, opts.clf_features)


# --- helpers ----------------------------------------------------------------------------------------
def analysis_config(cfg: EvalConfig, sr: int, base: FeatureConfig | None = None) -> FeatureConfig:
    """The WORLD analysis settings of the F0 and MCD scores: ``cfg.frame_period``, ``cfg.f0_method``,
    the F0 range of ``base`` (the experiment's features) or the toolkit's default range."""
    base = base or FeatureConfig()
    return FeatureConfig(kind="world", sample_rate=sr, frame_period=cfg.frame_period, f0_method=cfg.f0_method,
                         f0_floor=base.f0_floor, f0_ceil=base.f0_ceil)


def _audio_rate(path: Path) -> int:
    import soundfile as sf

    try:
        return int(sf.info(str(path)).samplerate)
    except (sf.LibsndfileError, RuntimeError, OSError):
        return 16000  # unreadable: the pair fails later with the audio loader's own message


def experiment_dir(ckpt: str | os.PathLike) -> Path:
    """The experiment folder of a checkpoint (``<exp>/checkpoints/step_*.pt`` -> ``<exp>``)."""
    path = Path(ckpt)
    if path.is_dir():
        return path.parent if path.name == "checkpoints" else path
    return path.parent.parent if path.parent.name == "checkpoints" else path.parent


def resolve_dump_dir(cfg: ExperimentConfig, exp_dir: Path | None = None,
                     override: str | os.PathLike | None = None) -> Path:
    """Where the experiment's dump is: ``override``; else ``data.dump_dir`` as written (absolute, or
    relative to the current folder); else relative to the folder training ran in (found by taking
    ``train.out_dir``'s parts off the end of ``exp_dir``). A DataError names what was tried."""
    if override:
        path = Path(override)
        if not (path / "domains.json").is_file():
            raise DataError(f"{path}: not a prepared dump (no domains.json); run vc-prep first")
        return path
    given = Path(os.path.expandvars(os.path.expanduser(cfg.data.dump_dir)))
    tried = [given]
    if not given.is_absolute() and exp_dir is not None:
        parts = Path(cfg.train.out_dir).parts
        exp = Path(exp_dir).absolute()
        if parts and not Path(cfg.train.out_dir).is_absolute() and exp.parts[-len(parts):] == parts:
            tried.append(Path(*exp.parts[: -len(parts)]) / given)
    for path in tried:
        if (path / "domains.json").is_file():
            return path
    raise DataError(
        f"{cfg.data.dump_dir}: the experiment's dump was not found (tried {', '.join(map(str, tried))}); "
        "pass --dump DIR"
    )


def checkpoint_setup(ckpt: str | os.PathLike, dump_dir: str | os.PathLike | None = None
                     ) -> tuple[ExperimentConfig, Dump, Path]:
    """The experiment config stored in ``ckpt``, its dump (checked against the checkpoint's features)
    and its experiment folder; nothing is built."""
    from vc.config import config_from_dict
    from vc.train.checkpoint import load_checkpoint

    state = load_checkpoint(ckpt, map_location="cpu")
    cfg = config_from_dict(state["config"])
    exp = experiment_dir(state["path"])
    return cfg, Dump(resolve_dump_dir(cfg, exp, dump_dir), cfg.features), exp


def _copy_into(src: Path, out_dir: Path, sub: str, copied: dict[Path, str]) -> str:
    """``src`` as a path relative to ``out_dir``: as is when it already lies inside, else copied to
    ``out_dir/wav/<sub>/`` (once per file; a name taken by another file of this run gets a suffix,
    while a file left by an earlier run into the same folder is overwritten)."""
    src = src.absolute()
    if src in copied:
        return copied[src]
    try:
        rel = src.resolve().relative_to(out_dir.resolve()).as_posix()
    except ValueError:
        dest_dir = out_dir / "wav" / sub
        dest_dir.mkdir(parents=True, exist_ok=True)
        taken = set(copied.values())
        name, k = src.name, 1
        while (dest_dir / name).relative_to(out_dir).as_posix() in taken:
            k += 1
            name = f"{src.stem}_{k}{src.suffix}"
        shutil.copyfile(src, dest_dir / name)
        rel = (dest_dir / name).relative_to(out_dir).as_posix()
    copied[src] = rel
    return rel


def _json_ready(value):
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def headline(scores: dict) -> str:
    """One line with the main scores."""
    overall = scores["summary"]["overall"]

    def val(key: str, fmt: str) -> str:
        s = overall.get(key) or {}
        return "n/a" if s.get("mean") is None else fmt.format(s["mean"])

    parts = [f"{len(scores['utterances'])} conversions", f"MCD {val('mcd', '{:.2f} dB')}",
             f"log-F0 corr {val('f0_corr', '{:.3f}')}"]
    clf = scores.get("classifier")
    if clf:
        dev = clf.get("dev_accuracy")
        parts.append(f"domain acc {val('domain_correct', '{:.1%}')} "
                     f"(classifier dev {'n/a' if dev is None else f'{dev:.1%}'})")
    if overall.get("spk_sim_target", {}).get("mean") is not None:
        parts.append(f"spk sim tgt {val('spk_sim_target', '{:.3f}')} / src {val('spk_sim_source', '{:.3f}')}")
    if overall.get("dnsmos", {}).get("mean") is not None:
        text = f"DNSMOS {val('dnsmos', '{:.2f}')}"
        if overall.get("dnsmos_p808", {}).get("mean") is not None:  # scores made before P.808 was kept have none
            text += f" (P.808 {val('dnsmos_p808', '{:.2f}')})"
        parts.append(text)
    if overall.get("wer", {}).get("mean") is not None:
        parts.append(f"WER {val('wer', '{:.1%}')}")
    if overall.get("spk_id_correct", {}).get("mean") is not None:
        parts.insert(3, f"speaker-ID {val('spk_id_correct', '{:.1%}')}")
    if scores.get("failed"):
        parts.append(f"{len(scores['failed'])} failed")
    return " | ".join(parts)


#: The scores a baseline verdict weighs (when both systems have them).
VERDICT_KEYS = ("spk_id_correct", "mcd", "dnsmos", "dnsmos_p808", "f0_corr", "domain_correct")


def baseline_verdict(scores: dict, baseline: str = "statistical") -> str:
    """One line: vc against ``baseline`` (else the first baseline scored) on the main scores, with the
    difference and its 95% interval, and which scores vc does not beat. A score counts as beaten
    only when vc is ahead and the interval of the paired difference excludes zero."""
    baseline = metrics.verdict_baseline(scores, "comparison", baseline)
    if baseline is None:
        return ""
    comp = scores["comparison"][baseline]
    specs = {s.key: s for s in metrics.SCORES}
    shown, worse = [], []
    for key in VERDICT_KEYS:
        c = comp.get(key)
        if not c:
            continue
        spec = specs[key]
        ci = c.get("ci95")
        diff = metrics.format_diff(spec, c["diff"])
        if ci:
            diff += f", 95% CI {metrics.format_diff(spec, ci[0])}..{metrics.format_diff(spec, ci[1])}"
        shown.append(f"{spec.label.split(':')[0]} {spec.fmt.format(c['system'])} vs "
                     f"{spec.fmt.format(c['baseline'])} ({diff})")
        if c["better"] != "system":
            worse.append(spec.label.split(":")[0])
        elif ci and ci[0] <= 0 <= ci[1]:  # ahead on average, but the interval does not rule out a loss
            worse.append(spec.label.split(":")[0] + " (ahead within the 95% CI only)")
    if not shown:
        return ""
    if worse:
        tail = f"vc does NOT beat the {baseline} baseline on: {', '.join(worse)}"
    else:
        tail = f"vc beats the {baseline} baseline on every score shown"
    return f"vs {baseline} baseline: " + "; ".join(shown) + f" => {tail}"


def pair_verdict(scores: dict, baseline: str = "statistical") -> str:
    """One line: the ordered domain pairs on which ``baseline`` (else the first baseline scored) is ahead
    of vc with a 95% interval that excludes a tie, per score (``scores["comparison_by_pair"]``); empty
    when there is no per-pair comparison. Each pair's interval comes from its own few conversions, and
    with many pairs and scores a few intervals miss by chance, so the line is a pointer for listening,
    not a verdict of its own."""
    baseline = metrics.verdict_baseline(scores, "comparison_by_pair", baseline)
    if baseline is None:
        return ""
    entries = scores["comparison_by_pair"][baseline]
    specs = {s.key: s for s in metrics.SCORES}
    flagged = []
    for key in VERDICT_KEYS:
        spec = specs[key]
        hits = [f"{e['src']}→{e['tgt']} {metrics.format_diff(spec, c['diff'])} "
                f"({metrics.format_diff(spec, c['ci95'][0])}..{metrics.format_diff(spec, c['ci95'][1])})"
                for e in entries if (c := e["scores"].get(key)) and metrics.behind(c)]
        if hits:
            flagged.append(f"{spec.label.split(':')[0]}: " + ", ".join(hits))
    head = f"per domain pair vs {baseline} baseline ({len(entries)} pairs): "
    if not flagged:
        return head + "no pair where the baseline is ahead with 95% confidence"
    return head + "baseline ahead with 95% confidence on " + "; ".join(flagged)


# --- baselines -------------------------------------------------------------------------------------
#: The baselines made from the dump's per-domain statistics (:class:`vc.eval.baselines.StatisticalConversion`).
FITTED_BASELINES = ("statistical", "statistical_gated")


@dataclass
class _BaselineJob:
    pair_id: str
    source: str
    src_domain: str
    tgt_domain: str
    outputs: dict[str, str]
    """system -> where its output goes (``resynth``, ``statistical``, ``statistical_gated``)."""


@dataclass
class _BaselineOptions:
    sr: int
    world: FeatureConfig
    statistical: object | None
    gate: tuple[float, float] | None
    """The conversions' silence gate ``(threshold_db, ratio)`` for ``statistical_gated``."""


def _baseline_job(job: _BaselineJob, opts: _BaselineOptions) -> dict:
    """Write one source's baseline outputs; ``{"pair_id", "written": {system: path}, "error"?}``."""
    from vc.audio import load, save
    from vc.eval import baselines

    out: dict = {"pair_id": job.pair_id, "written": {}}
    try:
        wav = load(job.source, opts.sr, min_duration=MIN_SECONDS)
    except VCError as exc:
        out["error"] = _first_line(exc)
        return out
    ys = {}
    if "resynth" in job.outputs:
        ys["resynth"] = baselines.resynthesize(wav, opts.world)
    fitted = [s for s in FITTED_BASELINES if s in job.outputs]
    if fitted:  # one analysis for the plain and the gated conversion
        gates = [opts.gate if s == "statistical_gated" else None for s in fitted]
        ys.update(zip(fitted, opts.statistical.convert_gated(wav, job.src_domain, job.tgt_domain, gates)))
    for system, path in job.outputs.items():
        save(path, ys[system], opts.sr)
        out["written"][system] = path
    return out


def make_baselines(pairs: list[Pair], out_dir: Path, cfg: EvalConfig, sr: int, features: FeatureConfig | None,
                   dump: Dump | None, skipped: dict[str, str], log: Log, progress: bool,
                   workers: int | None, gate: tuple[float, float] | None = None) -> dict[str, list[Pair]]:
    """The baseline systems' outputs for ``pairs`` (:mod:`vc.eval.baselines`), written under
    ``<out>/wav/baselines/<system>/``; ``{system: pairs}`` with ids ``<system>:<pair id>``. ``gate``:
    the conversions' silence gate ``(threshold_db, ratio)``, None when they have none or it is not known."""
    from vc.eval import baselines

    systems = [b for b in baselines.BASELINES if b in cfg.baselines]
    if not systems or not pairs:
        return {}
    if "statistical_gated" in systems and (gate is None or gate[0] <= 0):
        why = ("the conversions' silence gate is not known (pairs mode: pass --ckpt, --config or "
               "--silence-gate-db)" if gate is None else "the conversions have no silence gate")
        skipped["baseline_statistical_gated"] = f"statistical_gated baseline skipped: {why}"
        log(skipped["baseline_statistical_gated"])
        systems.remove("statistical_gated")
    world_cfg = baselines.world_config(features or FeatureConfig(kind="world", sample_rate=sr))
    if world_cfg.sample_rate != sr:
        world_cfg = baselines.world_config(FeatureConfig(kind="world", sample_rate=sr))
    statistical = None
    fitted = [s for s in systems if s in FITTED_BASELINES]
    if fitted:
        if dump is None:
            for system in fitted:
                skipped[f"baseline_{system}"] = (f"{system} baseline skipped: its per-domain statistics come "
                                                 "from the experiment's dump (pass --ckpt or --config)")
                log(skipped[f"baseline_{system}"])
            systems = [s for s in systems if s not in fitted]
        else:
            statistical = baselines.fit_from_dump(dump, cfg.baseline_utts, log)
    base_dir = out_dir / "wav" / "baselines"
    sources = list(dict.fromkeys(str(p.source) for p in pairs))
    resynth_name = dict(zip(sources, _unique_ids([Path(x).stem for x in sources])))
    jobs = []
    for p in pairs:
        outputs = {}
        if "resynth" in systems:
            outputs["resynth"] = str(base_dir / "resynth" / f"{resynth_name[str(p.source)]}.wav")
        if statistical is not None and p.src_domain in statistical.domains and p.tgt_domain in statistical.domains:
            for system in fitted:
                outputs[system] = str(base_dir / system / f"{p.id}.wav")
        jobs.append(_BaselineJob(p.id, str(p.source), p.src_domain, p.tgt_domain, outputs))
    # resynth outputs are shared by every pair of one source: make each once, in the first job naming it
    seen: set[str] = set()
    for job in jobs:
        path = job.outputs.get("resynth")
        if path in seen:
            job.outputs = {k: v for k, v in job.outputs.items() if k != "resynth"}
        elif path:
            seen.add(path)
    for system in systems:
        if system != "source":  # the source needs no copy
            (base_dir / system).mkdir(parents=True, exist_ok=True)
    opts = _BaselineOptions(sr, world_cfg, statistical, gate)
    results = map_progress(_baseline_job, jobs, opts, cfg.num_workers if workers is None else workers,
                           desc="baselines", unit="pair", progress=progress)
    made = {r["pair_id"]: r for r in results}
    by_source = {}
    for job in jobs:
        if "resynth" in job.outputs:
            by_source[job.source] = job.outputs["resynth"]
    out: dict[str, list[Pair]] = {s: [] for s in systems}
    for p in pairs:
        res = made.get(p.id, {})
        if res.get("error"):
            continue  # the system's own pair fails with the same message
        for system in systems:
            if system == "source":
                path = p.source
            elif system == "resynth":
                path = by_source.get(str(p.source))
            else:
                path = res.get("written", {}).get(system)
            if path is None or not Path(path).is_file():
                continue
            out[system].append(Pair(f"{system}:{p.id}", Path(path), p.source, p.src_domain, p.tgt_domain,
                                    p.target_ref, p.text, p.line))
    return {s: v for s, v in out.items() if v}


# --- the common part --------------------------------------------------------------------------------
def _load_16k(path: Path) -> np.ndarray:
    from vc.audio import load

    return load(path, ex.SAMPLE_RATE)


def domain_embeddings(encoder: ex.SpeakerEncoder, dump: Dump, n: int, log: Log = _stderr) -> dict[str, np.ndarray]:
    """Each domain's speaker reference: the mean embedding of its first ``n`` real training
    utterances (an unreadable one is logged and left out; a domain with none is left out)."""
    train = dump.utterances("train")
    out = {}
    for d in dump.domains:
        utts = sorted((u for u in train if u.domain == d), key=lambda u: u.utt_id)[:n]
        wavs = []
        for u in utts:
            try:
                wavs.append(_load_16k(Path(u.path)))
            except VCError as exc:
                log(f"speaker similarity: {d} reference {u.path} unusable ({_first_line(exc)})")
        if wavs:
            out[d] = encoder.mean_embedding(wavs)
    return out


def _run_extras(rows: list[dict], pairs: dict[str, Pair], out_dir: Path, cfg: EvalConfig, dump: Dump | None,
                skipped: dict[str, str], log: Log, progress: bool, device: str) -> None:
    """Speaker similarity, DNSMOS and WER into ``rows`` (in place); a skipped one gets one log line."""
    from tqdm.auto import tqdm

    wanted = [(ex.SPEAKER_SIMILARITY, "speaker_similarity", cfg.speaker_similarity, "eval.speaker_similarity"),
              (ex.NATURALNESS, "naturalness", cfg.naturalness, "eval.naturalness"),
              (ex.INTELLIGIBILITY, "intelligibility", cfg.asr, "eval.asr")]
    active = []
    for extra, key, enabled, setting in wanted:
        if not enabled:
            reason = f"{setting} is false"
        elif key == "intelligibility" and not any(r.get("text") for r in rows):
            reason = "no transcripts"
        else:
            reason = ex.unavailable(extra)
        if reason:
            skipped[key] = ex.skip_message(extra, reason)
            log(skipped[key])
        else:
            active.append(key)
    if not active or not rows:
        return
    encoder = None
    if "speaker_similarity" in active:
        encoder = ex.SpeakerEncoder("cuda" if device.startswith("cuda") else "cpu")
    dnsmos = ex.Naturalness() if "naturalness" in active else None
    asr = ex.Recognizer() if "intelligibility" in active else None

    domain_emb: dict[str, np.ndarray] = {}
    if encoder is not None and dump is not None:
        # Every domain, not just the ones converted to: speaker-ID asks which of them is the closest.
        domain_emb = domain_embeddings(encoder, dump, cfg.speaker_refs, log)

    for row in tqdm(rows, desc="extras", unit="pair", disable=None if progress else True, leave=False, file=sys.stderr):
        wav = _load_16k(out_dir / row["converted"])
        if encoder is not None:
            emb = encoder.embed(wav)
            pair = pairs[row["id"]]
            tgt = domain_emb.get(row["tgt_domain"])
            if tgt is None and row.get("target_ref"):
                tgt = encoder.embed(_load_16k(out_dir / row["target_ref"]))
            src = domain_emb.get(row["src_domain"])
            if src is None:
                src = encoder.embed(_load_16k(pair.source))
            row["spk_sim_target"] = ex.cosine(emb, tgt) if tgt is not None else None
            row["spk_sim_source"] = ex.cosine(emb, src)
            if len(domain_emb) >= 2 and row["tgt_domain"] in domain_emb:
                closest = max(domain_emb, key=lambda d: ex.cosine(emb, domain_emb[d]))
                row["spk_closest"] = closest
                row["spk_id_correct"] = float(closest == row["tgt_domain"])
        if dnsmos is not None:
            row.update(dnsmos.scores(wav))
        if asr is not None and row.get("text"):
            row["asr_hyp"] = asr(wav)
            row["wer"] = metrics.wer(row["text"], row["asr_hyp"])


def _evaluate(pairs: list[Pair], out_dir: Path, cfg: EvalConfig, sr: int, base_features: FeatureConfig | None,
              dump: Dump | None, classifier_dir: Path | None, workers: int | None, device: str | None,
              progress: bool, log: Log, meta: dict, failed: list[dict],
              gate: tuple[float, float] | None = None) -> EvalResult:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "plots").mkdir(exist_ok=True)
    import torch

    from vc.eval.baselines import BASELINES

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    skipped: dict[str, str] = {}
    baselines = make_baselines(pairs, out_dir, cfg, sr, base_features, dump, skipped, log, progress, workers, gate)
    system_of = {p.id: "vc" for p in pairs}
    for system, bpairs in baselines.items():
        system_of.update({p.id: system for p in bpairs})
    all_pairs = pairs + [p for bpairs in baselines.values() for p in bpairs]
    if not any(p.target_ref for p in pairs):
        skipped["mcd"] = "MCD skipped: no parallel target reference for any conversion"
        log(skipped["mcd"])

    # The domain classifier first: its training is the one long step, and it fails fast on a bad dump.
    clf = None
    if dump is None:
        skipped["domain_accuracy"] = ("domain accuracy skipped: its classifier trains on the experiment's "
                                      "dump (pass --ckpt or --config)")
        log(skipped["domain_accuracy"])
    elif cfg.classifier_steps == 0:
        skipped["domain_accuracy"] = "domain accuracy skipped: eval.classifier_steps is 0"
        log(skipped["domain_accuracy"])
    else:
        from vc.eval.classifier import load_or_train

        clf = load_or_train(dump, cfg.classifier_steps, cfg.classifier_crop_seconds, classifier_dir or out_dir,
                            device=device, progress=progress, seed=cfg.seed)
        how = "loaded" if clf.loaded_from_cache else "trained"
        dev = "n/a" if clf.dev_accuracy is None else f"{clf.dev_accuracy:.1%}"
        log(f"domain classifier {how} ({clf.path}); accuracy on real dev audio {dev} (n={clf.dev_utterances})")

    alpha = cfg.mcd_alpha or metrics.all_pass_constant(sr)
    opts = _Options(sr=sr, analysis=analysis_config(cfg, sr, base_features), order=cfg.mcd_order, alpha=alpha,
                    silence_db=cfg.mcd_silence_db, clf_features=dump.features_cfg if clf is not None else None,
                    clf_mean=dump.stats.mean if clf is not None else None,
                    clf_scale=dump.stats.scale if clf is not None else None)
    jobs = [_Job(i, p.id, str(p.converted), str(p.source), str(p.target_ref) if p.target_ref else None,
                 str(out_dir / "plots" / f"{p.id}.png") if system_of[p.id] == "vc" else None,
                 f"{p.id}: {p.src_domain} → {p.tgt_domain}")
            for i, p in enumerate(all_pairs)]
    results = sorted(map_progress(_score_pair, jobs, opts, cfg.num_workers if workers is None else workers,
                                  desc="score", unit="pair", progress=progress, warm_up=_warm_up),
                     key=lambda r: r["index"])

    rows: list[dict] = []
    copied: dict[Path, str] = {}
    by_id = {p.id: p for p in all_pairs}
    for pair, res in zip(all_pairs, results):
        system = system_of[pair.id]
        if res.get("error"):
            if system == "vc":
                failed.append({"id": pair.id, "error": res["error"], **({"line": pair.line} if pair.line else {})})
            continue
        row = {
            "id": pair.id,
            "system": system,
            "pair": pair.id.split(":", 1)[1] if system != "vc" else pair.id,
            "src_domain": pair.src_domain,
            "tgt_domain": pair.tgt_domain,
            "text": pair.text,
            "source": _copy_into(pair.source, out_dir, "source", copied),
            "target_ref": _copy_into(pair.target_ref, out_dir, "reference", copied) if pair.target_ref else None,
            "converted": _copy_into(pair.converted, out_dir, "converted", copied),
            "plot": f"plots/{pair.id}.png" if system == "vc" else None,
        }
        if pair.line:
            row["line"] = pair.line
        for key in ("mcd", "mcd_frames", "lf0_rmse", "lf0_rmse_centered", "f0_corr", "vuv_error", "voiced_frames",
                    "f0_alignment"):
            row[key] = res.get(key)
        if clf is not None and res.get("clf_x") is not None:
            row["domain_pred"] = clf.predict(res["clf_x"])
            known = pair.tgt_domain in clf.domains  # a target the classifier never saw cannot be judged
            row["domain_correct"] = float(row["domain_pred"] == pair.tgt_domain) if known else None
        rows.append(row)

    _run_extras(rows, by_id, out_dir, cfg, dump, skipped, log, progress, device)

    base_rows = {system: [r for r in rows if r["system"] == system] for system in baselines}
    rows = [r for r in rows if r["system"] == "vc"]
    targets = sorted({r["tgt_domain"] for r in rows}, key=lambda d: (dump.domains.index(d) if dump is not None
                                                                     and d in dump.domains else 1 << 30, d))
    scores = {
        "vc_version": vc.__version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        **meta,
        "dump": str(dump.dir) if dump is not None else None,
        "sample_rate": sr,
        "settings": {
            "eval": to_dict(cfg),
            "mcd": {"order": cfg.mcd_order, "alpha": alpha, "frame_period_ms": opts.analysis.frame_period_ms,
                    "silence_db": cfg.mcd_silence_db, "c0": "excluded", "constant": "10*sqrt(2)/ln(10)",
                    "alignment": "librosa.sequence.dtw, euclidean"},
            "f0": {"method": cfg.f0_method, "floor": opts.analysis.f0_floor, "ceil": opts.analysis.f0_ceil,
                   "frame_period_ms": opts.analysis.frame_period_ms},
            "ci": "95%: Student t on the mean; Wilson score for domain accuracy",
            "silence_gate": {"threshold_db": gate[0], "ratio": gate[1]} if gate is not None else None,
        },
        "classifier": clf.info() if clf is not None else None,
        "skipped": skipped,
        "summary": {
            "overall": metrics.summarize(rows),
            "by_target": {t: metrics.summarize([r for r in rows if r["tgt_domain"] == t]) for t in targets},
        },
        "utterances": rows,
        "failed": failed,
        "baselines": {
            system: {"description": BASELINES[system], "summary": {"overall": metrics.summarize(brows)},
                     "utterances": brows}
            for system, brows in base_rows.items()
        },
        "comparison": {system: metrics.compare(rows, brows) for system, brows in base_rows.items()},
        "comparison_by_pair": {system: metrics.compare_by_pair(rows, brows) for system, brows in base_rows.items()},
    }
    scores = _json_ready(scores)
    scores_path = out_dir / "scores.json"
    write_json_atomic(scores_path, scores)
    from vc.eval.report import write_report

    report_path = write_report(out_dir / "report.html", scores)
    # (with the gated baseline alone, the verdict line above already weighs it)
    both = {"statistical", "statistical_gated"} <= set(base_rows)
    gated = baseline_verdict(scores, "statistical_gated") if both else ""
    return EvalResult(out_dir, scores_path, report_path, scores, failed, headline(scores), baseline_verdict(scores),
                      pair_verdict(scores), gated)


# --- checkpoint mode --------------------------------------------------------------------------------
def _text_key(text: str) -> str:
    return " ".join(metrics.normalize_words(text))


def _parallel_reference(u: Utterance, target: str, by_text: dict[tuple[str, str], list[Utterance]],
                        split_ids: set[str]) -> Utterance | None:
    """The target domain's utterance with the same text (VCTK's parallel sentences), preferring one
    of the evaluated split; None when the manifest has no text or no such utterance exists."""
    key = _text_key(u.text)
    if not key:
        return None
    found = by_text.get((target, key), [])
    same_split = [v for v in found if v.utt_id in split_ids]
    return (same_split or found or [None])[0]


def evaluate_checkpoint(ckpt: str | os.PathLike, out_dir: str | os.PathLike | None = None, split: str | None = None,
                        cfg: EvalConfig | None = None, dump_dir: str | os.PathLike | None = None,
                        vocoder: str | None = None, device: str | None = None, workers: int | None = None,
                        progress: bool = True, log: Log = _stderr, overrides: list[str] | None = None) -> EvalResult:
    """Convert every ``split`` utterance of the experiment's dump to every other domain (or
    ``cfg.targets``) with ``ckpt``, then score the conversions.

    Args:
        ckpt: a checkpoint (or an experiment's ``checkpoints/`` folder: its newest).
        out_dir: default ``<experiment>/eval/<split>``; converted audio goes to ``<out>/wav/``.
        split: ``train``/``dev``/``test``; default ``cfg.split``.
        cfg: evaluation settings; default the checkpoint's own ``eval:`` section.
        dump_dir: the prepared dump, when ``data.dump_dir`` of the checkpoint's config is not found.
        vocoder: ``world``, ``griffinlim`` or ``pwg:<dir>`` (default: the experiment's own).
        workers: processes for the per-pair scores (default ``cfg.num_workers``; 0: every core).
        log: receives one-line notes (skipped scores, the classifier's dev accuracy).
        overrides: ``eval.key=value`` settings applied on top of ``cfg``.
    """
    from tqdm.auto import tqdm

    from vc.audio import load, save

    conv = vc.load(ckpt, vocoder=vocoder, device=device)
    exp_cfg = conv.cfg
    gate = (conv.gate_db, exp_cfg.vocoder.silence_gate_ratio)
    cfg = eval_config_with_overrides(cfg or exp_cfg.eval, overrides)
    split = split or cfg.split
    exp_dir = experiment_dir(conv.path)
    dump = Dump(resolve_dump_dir(exp_cfg, exp_dir, dump_dir), conv.features)
    if list(dump.domains) != list(conv.domains):
        raise DataError(f"{dump.dir}: its domains ({', '.join(dump.domains)}) are not the checkpoint's "
                        f"({', '.join(conv.domains)})")
    targets = list(cfg.targets) or list(conv.domains)
    for t in targets:
        if t not in conv.domains:
            raise ConfigError(
                f"eval.targets: unknown domain {t!r}; the checkpoint's domains: {', '.join(conv.domains)}"
            )
    utts = dump.utterances(split)
    if not utts:
        raise DataError(f"{dump.dir}: the {split} split is empty (see data.dev_per_domain/test_per_domain)")
    sources: list[Utterance] = []
    for d in dump.domains:
        mine = sorted((u for u in utts if u.domain == d), key=lambda u: u.utt_id)
        sources += mine[: cfg.max_utts] if cfg.max_utts else mine
    by_text: dict[tuple[str, str], list[Utterance]] = {}
    for u in dump.utterances("all"):
        if _text_key(u.text):
            by_text.setdefault((u.domain, _text_key(u.text)), []).append(u)
    split_ids = {u.utt_id for u in utts}

    out = Path(out_dir) if out_dir is not None else exp_dir / "eval" / split
    wav_dir = out / "wav"
    sr = conv.sample_rate
    pairs: list[Pair] = []
    failed: list[dict] = []
    refs_written: dict[str, Path] = {}
    jobs = [(u, t) for u in sources for t in targets if t != u.domain]
    if not jobs:
        raise ConfigError(
            f"nothing to convert: eval.targets ({', '.join(targets)}) holds only the sources' own domains"
        )
    loaded: dict[str, np.ndarray | VCError] = {}
    for k, (u, t) in enumerate(tqdm(jobs, desc="convert", unit="pair", disable=None if progress else True,
                                    leave=False, file=sys.stderr)):
        pid = f"{u.utt_id}_to_{t}"
        if u.utt_id not in loaded:
            try:
                loaded[u.utt_id] = load(u.path, sr)
                save(wav_dir / "source" / f"{u.utt_id}.wav", loaded[u.utt_id], sr)
            except VCError as exc:
                loaded[u.utt_id] = exc
        wav = loaded[u.utt_id]
        if isinstance(wav, VCError):
            failed.append({"id": pid, "error": _first_line(wav)})
            continue
        ref_utt = _parallel_reference(u, t, by_text, split_ids)
        ref_path = None
        if ref_utt is not None:
            if ref_utt.utt_id not in refs_written:
                try:
                    save(wav_dir / "reference" / f"{ref_utt.utt_id}.wav", load(ref_utt.path, sr), sr)
                    refs_written[ref_utt.utt_id] = wav_dir / "reference" / f"{ref_utt.utt_id}.wav"
                except VCError as exc:
                    log(f"parallel reference {ref_utt.path} unusable ({_first_line(exc)}); MCD skipped for it")
            ref_path = refs_written.get(ref_utt.utt_id)
        try:
            style = conv.style(target=t, seed=cfg.seed + k)
            save(wav_dir / f"{pid}.wav", conv.convert(wav, style, source=u.domain), sr)
        except VCError as exc:
            failed.append({"id": pid, "error": _first_line(exc)})
            continue
        pairs.append(Pair(pid, wav_dir / f"{pid}.wav", wav_dir / "source" / f"{u.utt_id}.wav", u.domain, t,
                          ref_path, u.text))
    del conv  # free the generator before the classifier and the extras load theirs
    meta = {"mode": "checkpoint", "checkpoint": str(Path(ckpt)), "split": split, "vocoder": vocoder}
    return _evaluate(pairs, out, cfg, sr, exp_cfg.features, dump, exp_dir / "eval", workers, device, progress,
                     log, meta, failed, gate)


# --- pairs mode -------------------------------------------------------------------------------------
def evaluate_pairs(pairs_tsv: str | os.PathLike, out_dir: str | os.PathLike | None = None,
                   cfg: EvalConfig | None = None, dump: Dump | str | os.PathLike | None = None,
                   classifier_dir: str | os.PathLike | None = None, device: str | None = None,
                   workers: int | None = None, progress: bool = True, log: Log = _stderr,
                   silence_gate: tuple[float, float] | None = None) -> EvalResult:
    """Score conversions made elsewhere, listed in a pairs TSV (see :func:`read_pairs`).

    Args:
        out_dir: default ``<tsv folder>/<tsv stem>_eval``. Audio is copied into ``<out>/wav/``.
        cfg: evaluation settings (default :class:`EvalConfig`).
        dump: the training corpus's prepared dump: it trains the domain classifier and gives each
            domain's reference speech for speaker similarity. Without it domain accuracy is skipped.
        classifier_dir: where the classifier is cached (default ``out_dir``).
        silence_gate: the conversions' silence gate ``(threshold_db, ratio)`` (``vocoder.silence_gate_db``
            and ``silence_gate_ratio`` of the config that made them); the ``statistical_gated`` baseline
            goes through it. None: not known, that baseline is skipped.
    """
    path = Path(pairs_tsv)
    pairs = read_pairs(path)
    cfg = cfg or EvalConfig()
    if dump is not None and not isinstance(dump, Dump):
        dump = Dump(dump)
    if dump is not None:
        sr = dump.features_cfg.sample_rate
    else:
        sr = cfg.sample_rate or _audio_rate(pairs[0].converted)
    out = Path(out_dir) if out_dir is not None else path.parent / f"{path.stem}_eval"
    meta = {"mode": "pairs", "pairs_file": str(path)}
    return _evaluate(pairs, out, cfg, sr, dump.features_cfg if dump is not None else None, dump,
                     Path(classifier_dir) if classifier_dir else None, workers, device, progress, log, meta, [],
                     silence_gate)


def eval_config_with_overrides(base: EvalConfig, overrides: list[str] | None) -> EvalConfig:
    """``base`` with ``--set eval.key=value`` overrides applied and checked (other sections refused)."""
    from vc.config import apply_overrides

    for text in overrides or []:
        if not text.strip().startswith("eval."):
            raise ConfigError(f"--set {text!r}: vc-eval only takes eval.* settings")
    data = apply_overrides({"eval": to_dict(base)}, overrides)
    return from_dict(ExperimentConfig, data).eval
