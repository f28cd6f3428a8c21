"""Conversion to the voices of unseen speakers: ``vc-eval --ckpt CKPT --refs DIR``.

Held-out source utterances (``split``, ``max_utts`` per training domain) are converted to the voice
of one reference clip of every speaker in ``refs`` (speakers the model never trained on), two ways:

* ``reference``: ``conv(src, ref=clip)``, what a user gets from ``vc-convert --ref clip.wav``. On a
  model with a shared style head that is the clip's own style and pitch (any-to-any); with
  per-domain heads it is read through the head of the domain the discriminator judges closest.
* ``nearest`` (the baseline): conversion to the training speaker whose voice is closest to the clip,
  by the independent speaker encoder (the mean embedding of ``eval.speaker_refs`` training clips per
  domain), with the mapping network: the best a many-to-many model can do for a new voice.

Each conversion is embedded by the independent speaker encoder (resemblyzer) and compared with the
reference speaker (the mean embedding of all of that speaker's clips in ``refs``; with one clip per
speaker, the reference clip itself) and with the source speaker (its domain's training clips). The
figures: the share of conversions closer to the reference speaker than to the source, the mean
similarity to the reference speaker of both systems and their paired difference, each with a 95%
interval, and DNSMOS of both when speechmos is installed (P.835's overall, speech and background
scores and the P.808 model's overall score, as in every other report).

``refs`` is a folder of ``<speaker>/*.wav`` (or flac/mp3/ogg) or of flat audio files (one speaker
per file, named by its stem), or ``unseen``: the held-out domains of the dump
(``data.unseen_domains``, ``manifest/unseen.tsv``).
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vc.errors import ConfigError, DataError, VCError
from vc.eval import extras as ex
from vc.eval import metrics
from vc.eval.evaluate import Log, _first_line, _stderr, domain_embeddings, experiment_dir, resolve_dump_dir
from vc.io import write_json_atomic, write_text_atomic

AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg")
SYSTEMS = ("reference", "nearest")
#: Goal figures of any-to-any conversion (issue [3/5]), printed beside the measured ones.
GOAL_CLOSER = 0.80
GOAL_MARGIN = 0.03


@dataclass
class UnseenResult:
    scores: dict
    headline: str
    out_dir: Path
    failed: list[dict] = field(default_factory=list)


def read_refs(spec: str | os.PathLike, dump=None) -> dict[str, list[Path]]:
    """Speaker -> its clips (sorted) from a folder (see the module docstring) or ``unseen``."""
    if str(spec) == "unseen":
        if dump is None:
            raise ConfigError("--refs unseen needs the experiment's dump")
        utts = dump.utterances("unseen")
        if not utts:
            raise DataError(f"{dump.dir}: no held-out domains (set data.unseen_domains and re-run vc-prep)")
        refs: dict[str, list[Path]] = {}
        for u in sorted(utts, key=lambda u: (u.domain, u.utt_id)):
            refs.setdefault(u.domain, []).append(Path(u.path))
        return refs
    root = Path(spec)
    if not root.is_dir():
        raise DataError(f"{root}: not a folder of reference clips")
    refs = {}
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        clips = sorted(p for p in sub.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
        if clips:
            refs[sub.name] = clips
    for f in sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES):
        refs.setdefault(f.stem, []).append(f)
    if not refs:
        raise DataError(f"{root}: no audio clips ({', '.join(AUDIO_SUFFIXES)}) in it or its sub-folders")
    return refs


def _summary(rows: list[dict], system: str) -> dict:
    sim_ref = [r[f"{system}_sim_ref"] for r in rows]
    closer = [float(r[f"{system}_sim_ref"] > r[f"{system}_sim_src"]) for r in rows]
    out = {
        "closer_to_reference": metrics.proportion_ci(closer),
        "sim_reference": metrics.mean_ci(sim_ref),
        "sim_source": metrics.mean_ci([r[f"{system}_sim_src"] for r in rows]),
    }
    for key in ex.DNSMOS_KEYS:  # P.835 overall, speech and background; P.808 overall
        if any(r.get(f"{system}_{key}") is not None for r in rows):
            out[key] = metrics.mean_ci([r.get(f"{system}_{key}") for r in rows])
    return out


def unseen_headline(scores: dict) -> str:
    """One line: how often and by how much the conversions reach the reference voices."""
    ref, near, diff = scores["reference"], scores["nearest"], scores["reference_minus_nearest"]
    closer = ref["closer_to_reference"]["mean"]
    lo, hi = diff["ci95"] if diff.get("ci95") else (None, None)
    ci = f" ({lo:+.3f}..{hi:+.3f})" if lo is not None else ""
    line = (f"unseen voices: {scores['n_conversions']} conversions to {scores['n_speakers']} speakers | "
            f"closer to the reference than to the source: {100 * closer:.0f}% (goal >= {100 * GOAL_CLOSER:.0f}%; "
            f"nearest training speaker {100 * near['closer_to_reference']['mean']:.0f}%) | "
            f"similarity to the reference {ref['sim_reference']['mean']:.3f} vs nearest training speaker "
            f"{near['sim_reference']['mean']:.3f}: {diff['mean']:+.3f}{ci} (goal >= +{GOAL_MARGIN:.2f})")
    if "dnsmos" in ref and "dnsmos" in near:
        line += f" | DNSMOS {ref['dnsmos']['mean']:.2f} vs {near['dnsmos']['mean']:.2f}"
        if "dnsmos_p808" in ref and "dnsmos_p808" in near:
            line += f" (P.808 {ref['dnsmos_p808']['mean']:.2f} vs {near['dnsmos_p808']['mean']:.2f})"
    return line


def _report(rows: list[dict], scores: dict, out: Path) -> None:
    import html

    def audio(rel: str) -> str:
        return f'<audio controls preload="none" src="{html.escape(rel)}"></audio>'

    lines = ["<!doctype html><meta charset='utf-8'><title>vc-eval: unseen voices</title>",
             "<style>body{font:14px sans-serif;margin:2em}td,th{padding:4px 8px;border-bottom:1px solid #ddd}"
             "</style>", f"<h1>Unseen voices</h1><p>{html.escape(scores['headline'])}</p>",
             "<table><tr><th>source</th><th>reference</th><th>to the reference (sim ref / src)</th>"
             "<th>nearest training speaker (sim ref / src)</th></tr>"]
    for r in rows:
        lines.append(
            f"<tr><td>{html.escape(r['source_id'])}<br>{audio(r['source'])}</td>"
            f"<td>{html.escape(r['speaker'])}<br>{audio(r['ref'])}</td>"
            f"<td>{audio(r['reference_wav'])}<br>{r['reference_sim_ref']:.3f} / {r['reference_sim_src']:.3f}</td>"
            f"<td>{html.escape(r['nearest_domain'])}<br>{audio(r['nearest_wav'])}<br>"
            f"{r['nearest_sim_ref']:.3f} / {r['nearest_sim_src']:.3f}</td></tr>")
    lines.append("</table>")
    write_text_atomic(out / "report.html", "\n".join(lines) + "\n")


def evaluate_unseen(ckpt: str | os.PathLike, refs: str | os.PathLike, out_dir: str | os.PathLike | None = None,
                    split: str = "test", max_utts: int = 2, dump_dir: str | os.PathLike | None = None,
                    vocoder: str | None = None, device: str | None = None, speaker_refs: int = 5, seed: int = 0,
                    naturalness: bool = True, progress: bool = True, log: Log = _stderr) -> UnseenResult:
    """Score conversions to unseen voices (see the module docstring). Writes ``<out>/scores.json``,
    ``<out>/conversions.tsv``, ``<out>/report.html`` and the audio under ``<out>/wav/``; ``out``
    defaults to ``<experiment>/eval/unseen_<refs folder name>``."""
    from tqdm.auto import tqdm

    import vc
    from vc.audio import load, save
    from vc.data.dump import Dump

    reason = ex.unavailable(ex.SPEAKER_SIMILARITY)
    if reason:
        raise ConfigError(f"the unseen-voice evaluation needs the speaker encoder: {reason}")
    t0 = time.time()
    conv = vc.load(ckpt, vocoder=vocoder, device=device)
    if not conv.family.has_style_encoder:
        raise ConfigError(f"--refs needs a style encoder; model family {conv.cfg.model.name} has none")
    exp_dir = experiment_dir(conv.path)
    dump = Dump(resolve_dump_dir(conv.cfg, exp_dir, dump_dir), conv.features)
    speakers = read_refs(refs, dump)
    clash = sorted(set(speakers) & set(conv.domains))
    if clash:
        log(f"note: {', '.join(clash)} {'is a training domain' if len(clash) == 1 else 'are training domains'}, "
            "not an unseen speaker")
    utts = dump.utterances(split)
    sources = []
    for d in conv.domains:
        mine = sorted((u for u in utts if u.domain == d), key=lambda u: u.utt_id)
        sources += mine[:max_utts] if max_utts else mine
    if not sources:
        raise DataError(f"{dump.dir}: the {split} split is empty")

    encoder = ex.SpeakerEncoder("cuda" if str(conv.device).startswith("cuda") else "cpu")
    dnsmos = None
    if naturalness:
        why = ex.unavailable(ex.NATURALNESS)
        if why:
            log(ex.skip_message(ex.NATURALNESS, why))
        else:
            dnsmos = ex.Naturalness()
    sr = conv.sample_rate
    domain_emb = domain_embeddings(encoder, dump, speaker_refs, log)
    lacking = [d for d in conv.domains if d not in domain_emb]
    if lacking:
        raise DataError(f"{dump.dir}: no usable training clip for {', '.join(lacking)}")

    out = Path(out_dir) if out_dir is not None else exp_dir / "eval" / f"unseen_{Path(str(refs)).name}"
    wav_dir = out / "wav"
    failed: list[dict] = []
    voices = {}
    for spk, clips in speakers.items():
        try:
            wavs = [load(c, sr) for c in clips]
            style = conv.style(ref=wavs[0], sr=sr)
            emb = encoder.embed(ex.to_16k(wavs[0], sr))
        except VCError as exc:
            failed.append({"id": spk, "error": f"{clips[0]}: {_first_line(exc)}"})
            continue
        nearest = max(conv.domains, key=lambda d: ex.cosine(emb, domain_emb[d]))
        save(wav_dir / "ref" / f"{spk}.wav", wavs[0], sr)
        centroid = encoder.mean_embedding([ex.to_16k(w, sr) for w in wavs])
        voices[spk] = (style, nearest, centroid)
    if not voices:
        raise DataError(f"{refs}: no usable reference clip ({failed[0]['error'] if failed else 'none'})")

    rows = []
    jobs = [(u, spk) for u in sources for spk in voices]
    loaded: dict[str, np.ndarray] = {}
    for k, (u, spk) in enumerate(tqdm(jobs, desc="unseen", unit="pair", disable=None if progress else True,
                                      leave=False, file=sys.stderr)):
        style, nearest, centroid = voices[spk]
        pid = f"{u.utt_id}_to_{spk}"
        try:
            if u.utt_id not in loaded:
                loaded[u.utt_id] = load(u.path, sr)
                save(wav_dir / "source" / f"{u.utt_id}.wav", loaded[u.utt_id], sr)
            wav = loaded[u.utt_id]
            outs = {"reference": conv.convert(wav, style, source=u.domain),
                    "nearest": conv.convert(wav, conv.style(target=nearest, seed=seed + k), source=u.domain)}
        except VCError as exc:
            failed.append({"id": pid, "error": _first_line(exc)})
            continue
        row = {"id": pid, "source_id": u.utt_id, "src_domain": u.domain, "speaker": spk, "nearest_domain": nearest,
               "source": f"wav/source/{u.utt_id}.wav", "ref": f"wav/ref/{spk}.wav"}
        for system, y in outs.items():
            rel = f"wav/{system}/{pid}.wav"
            save(out / rel, y, sr)
            y16 = ex.to_16k(y, sr)
            e = encoder.embed(y16)
            row[f"{system}_wav"] = rel
            row[f"{system}_sim_ref"] = ex.cosine(e, centroid)
            row[f"{system}_sim_src"] = ex.cosine(e, domain_emb[u.domain])
            if dnsmos is not None:
                row.update({f"{system}_{key}": v for key, v in dnsmos.scores(y16).items()})
        rows.append(row)
    if not rows:
        raise VCError(f"no conversion to an unseen voice succeeded ({failed[0]['error'] if failed else 'none'})")

    scores = {system: _summary(rows, system) for system in SYSTEMS}
    scores["reference_minus_nearest"] = metrics.mean_ci(
        [r["reference_sim_ref"] - r["nearest_sim_ref"] for r in rows])
    scores.update({
        "n_conversions": len(rows), "n_speakers": len(voices), "n_sources": len({r["source_id"] for r in rows}),
        "any_to_any": conv.any_to_any, "checkpoint": str(ckpt), "refs": str(refs), "split": split,
        "goal": {"closer_to_reference": GOAL_CLOSER, "margin_over_nearest": GOAL_MARGIN},
        "nearest_domain": {spk: v[1] for spk, v in voices.items()}, "failed": failed,
        "seconds": round(time.time() - t0, 1),
    })
    scores["headline"] = unseen_headline(scores)
    keys = list(rows[0])
    write_text_atomic(out / "conversions.tsv", "\n".join(
        ["\t".join(keys)] + ["\t".join(f"{r[k]:.4f}" if isinstance(r[k], float) else str(r[k]) for k in keys)
                             for r in rows]) + "\n")
    _report(rows, scores, out)
    write_json_atomic(out / "scores.json", scores)
    return UnseenResult(scores, scores["headline"], out, failed)
