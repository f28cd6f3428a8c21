"""Real-speech quality benchmark: vc beside simple baselines, on six real speakers.

    python benchmarks/quality.py [--data ../shared/data] [--out /tmp/vc_quality] [--minutes 30 | --steps N]
                                 [--conf recipes/vctk/conf.cpu.yaml] [--set section.key=value ...]
                                 [--stages prep,train,convert,eval] [--dump DIR] [--ckpt PT] [--strength S]
                                 [--silence-gate-db DB]

Corpus: ``vctk_mini`` (p225 F, p226 M, p227 M, p228 F; 10 clips each) and ``arctic_mini`` (clb, slt, F;
30 clips each), 16 kHz, one model over all six speakers. The same sentences of every speaker of a
corpus are held out for test (VCTK 021-023, ARCTIC a0026-a0030) and one more per speaker for dev;
everything else trains. Training runs ``--conf`` (default the CPU config) for ``--minutes``. Each
held-out sentence is then converted to every other speaker *of the same corpus* (46 conversions),
so the target speaker's real recording of that sentence is there for MCD.

Scores come from ``vc-eval``'s pairs mode, which also scores its baselines on the same utterances
(no conversion, WORLD resynthesis, the statistical conversion, and that conversion through the
conversions' silence gate), plus the real target recordings as a ceiling. Speaker-ID: resemblyzer's
embedding of the output is closest to the target's centroid among the six speakers' centroids (5 real
training clips each). Naturalness: DNSMOS P.835 OVRL, with its
speech (SIG) and background (BAK) parts and DNSMOS's P.808 overall score beside it. Needs the
``eval`` extras (resemblyzer, speechmos, onnxruntime). Results go to ``<out>/quality.json`` too.

This is a benchmark, not a test: it needs ``../shared`` and takes ``--minutes`` plus ~5 minutes.
``--dump DIR`` shares one prepared corpus between runs (prepared there on first use; the real target
recordings' own scores are cached beside it). ``--steps N`` bounds training by steps instead of time,
for comparisons that must not depend on what else the machine is doing.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

CORPORA = {
    "vctk": (["p225", "p226", "p227", "p228"], "vctk_mini"),
    "arctic": (["clb", "slt"], "arctic_mini"),
}
TEST_UTTS = ["p22[5-8]_02[1-3]", "*arctic_a002[6-9]", "*arctic_a0030"]
STAGES = ("prep", "train", "convert", "eval")

#: Table columns: label, score key, format.
COLUMNS = [("speaker-ID", "spk_id_correct", "{:.0%}"), ("cos to target", "spk_sim_target", "{:.3f}"),
           ("cos to source", "spk_sim_source", "{:.3f}"), ("DNSMOS", "dnsmos", "{:.2f}"),
           ("SIG", "dnsmos_sig", "{:.2f}"), ("BAK", "dnsmos_bak", "{:.2f}"), ("P.808", "dnsmos_p808", "{:.2f}"),
           ("MCD dB", "mcd", "{:.2f}"), ("F0 corr", "f0_corr", "{:.2f}")]


def write_list(data: Path, out: Path) -> Path:
    """``path|speaker|text`` for every clip of both corpora (VCTK texts from its transcripts.tsv)."""
    lines = []
    for speakers, folder in CORPORA.values():
        root = data / folder
        texts = {}
        tsv = root / "transcripts.tsv"
        if tsv.is_file():
            for row in tsv.read_text(encoding="utf-8").splitlines()[1:]:
                utt, _, text = row.partition("\t")
                texts[utt] = text
        for spk in speakers:
            wavs = sorted((root / spk).glob("*.wav"))
            if not wavs:
                raise SystemExit(f"quality.py: no clips in {root / spk}; pass --data DIR holding {folder}/")
            lines += [f"{w}|{spk}|{texts.get(w.stem, '')}" for w in wavs]
    path = out / "corpus.list"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def sentence(utt_id: str) -> str:
    """The sentence an utterance id reads: ``p225_021`` -> ``021``, ``clb_arctic_a0026`` -> ``a0026``."""
    return utt_id.rsplit("_", 1)[-1]


def corpus_of(speaker: str) -> str:
    return next(name for name, (spks, _) in CORPORA.items() if speaker in spks)


def make_conversions(ckpt: Path, dump, out: Path, strength: float = 1.0, gate_db: float | None = None) -> Path:
    """Convert every test utterance to every other speaker of its corpus; write the pairs TSV."""
    import vc
    from vc.audio import load, save

    conv = vc.load(ckpt, device="cpu", strength=strength, silence_gate_db=gate_db)
    test = dump.utterances("test")
    by_key = {(u.domain, sentence(u.utt_id)): u for u in test}
    rows = ["converted\tsource\tsrc_domain\ttgt_domain\ttarget_ref"]
    real = ["converted\tsource\tsrc_domain\ttgt_domain"]
    k = 0
    for u in test:
        wav = load(u.path, conv.sample_rate)
        for tgt in CORPORA[corpus_of(u.domain)][0]:
            ref = by_key.get((tgt, sentence(u.utt_id)))
            if tgt == u.domain or ref is None:
                continue
            style = conv.style(target=tgt, seed=k)
            k += 1
            path = out / "converted" / f"{u.utt_id}_to_{tgt}.wav"
            save(path, conv.convert(wav, style, source=u.domain), conv.sample_rate)
            rows.append(f"{path}\t{u.path}\t{u.domain}\t{tgt}\t{ref.path}")
            real.append(f"{ref.path}\t{u.path}\t{u.domain}\t{tgt}")
    (out / "pairs.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (out / "real_target.tsv").write_text("\n".join(real) + "\n", encoding="utf-8")
    return out / "pairs.tsv"


def table(scores: dict, real: dict | None) -> str:
    overall = {"vc": scores["summary"]["overall"]}
    for name, b in scores.get("baselines", {}).items():
        overall[name] = b["summary"]["overall"]
    labels = {"source": "no conversion (the source itself)", "resynth": "WORLD analysis-resynthesis of the source",
              "statistical": "statistical: log-Gaussian F0 + per-dim mean/var of the coded envelope",
              "statistical_gated": "the statistical conversion through vc's silence gate",
              "vc": "**vc**", "real": "the real target speaker, same sentence"}
    if real is not None:
        overall["real"] = real["summary"]["overall"]
    head = "| system | " + " | ".join(c[0] for c in COLUMNS) + " |"
    lines = [head, "|" + "---|" * (len(COLUMNS) + 1)]
    for name in ("source", "resynth", "statistical", "statistical_gated", "vc", "real"):
        if name not in overall:
            continue
        cells = []
        for _, key, fmt in COLUMNS:
            s = overall[name].get(key) or {}
            if s.get("mean") is None or (name == "real" and key in ("mcd", "f0_corr")):
                cells.append("—")
            else:
                cells.append(fmt.format(s["mean"]))
        lines.append(f"| {labels[name]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=str(REPO.parent / "shared" / "data"),
                   help="folder holding vctk_mini/ and arctic_mini/")
    p.add_argument("--out", default="/tmp/vc_quality")
    p.add_argument("--conf", default=str(REPO / "recipes" / "vctk" / "conf.cpu.yaml"))
    p.add_argument("--minutes", type=float, default=30.0, help="training time budget")
    p.add_argument("--steps", type=int, default=0, help="train this many steps instead (no time limit)")
    p.add_argument("--dump", help="prepared corpus shared between runs (default: <out>/dump)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    p.add_argument("--stages", default=",".join(STAGES), help="comma-separated subset of " + ",".join(STAGES))
    p.add_argument("--threads", type=int, default=2, help="torch threads for training and conversion")
    p.add_argument("--ckpt", help="convert with this checkpoint (default: the newest under <out>/exp)")
    p.add_argument("--strength", type=float, default=1.0,
                   help="conversion strength (vc-convert --strength): 1 converts fully, 0 is the statistical base")
    p.add_argument("--silence-gate-db", type=float, metavar="DB",
                   help="silence gate of the conversions (vc-convert --silence-gate-db; default: the checkpoint's)")
    args = p.parse_args(argv)
    stages = [s for s in args.stages.split(",") if s]
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        p.error(f"unknown stage {unknown[0]!r}; choose from {', '.join(STAGES)}")

    import torch

    torch.set_num_threads(args.threads)
    from vc.config import config_from_dict, load_config, save_config
    from vc.data import prepare
    from vc.data.dump import Dump
    from vc.eval.evaluate import evaluate_pairs
    from vc.train import checkpoint as ckpt_io
    from vc.train import train

    out = Path(args.out).absolute()
    out.mkdir(parents=True, exist_ok=True)
    corpus = write_list(Path(args.data), out)
    speakers = [s for spks, _ in CORPORA.values() for s in spks]
    dump_dir = Path(args.dump).absolute() if args.dump else out / "dump"
    limits = ([f"train.max_minutes={args.minutes}", "train.max_steps=1000000"] if not args.steps
              else ["train.max_minutes=0", f"train.max_steps={args.steps}"])
    overrides = [
        "data.format=list", f"data.root={corpus}", "data.missing_domains=error", f"data.dump_dir={dump_dir}",
        "data.dev_per_domain=1", f"train.out_dir={out / 'exp'}", *limits, "eval.classifier_steps=0",
        "eval.asr=false",
    ] + args.overrides
    cfg = load_config(args.conf, overrides)
    cfg.data.domains = speakers
    cfg.data.test_utts = list(TEST_UTTS)
    save_config(cfg, out / "config.yaml")
    info: dict = {"conf": args.conf, "overrides": args.overrides, "strength": args.strength,
                  "silence_gate_db": args.silence_gate_db,
                  "minutes": 0 if args.steps else args.minutes,
                  "max_steps": args.steps or None, "threads": args.threads, "machine": f"{os.cpu_count()} cores"}

    if "prep" in stages and (not args.dump or not (dump_dir / "domains.json").is_file()):
        prepare(cfg, progress=True)
    dump = Dump(cfg.data.dump_dir, cfg.features)
    if "train" in stages:
        t0 = time.monotonic()
        train(cfg, device="cpu")
        info["train_seconds"] = round(time.monotonic() - t0, 1)
    final = Path(args.ckpt) if args.ckpt else ckpt_io.newest_checkpoint(out / "exp")
    if final is None:
        raise SystemExit(f"quality.py: no checkpoint under {out / 'exp'}; run the train stage")
    info["checkpoint"] = str(final)
    info["steps"] = int(final.stem.split("_")[-1]) if final.stem.startswith("step_") else None
    if "convert" in stages:
        make_conversions(final, dump, out, args.strength, args.silence_gate_db)
    if "eval" in stages:
        # the gate the conversions went through: the checkpoint's own unless --silence-gate-db
        made_with = config_from_dict(ckpt_io.load_checkpoint(final)["config"]).vocoder
        gate_db = made_with.silence_gate_db if args.silence_gate_db is None else args.silence_gate_db
        res = evaluate_pairs(out / "pairs.tsv", out / "eval", cfg.eval, dump=dump, device="cpu",
                             silence_gate=(gate_db, made_with.silence_gate_ratio))
        # The real target recordings score the same whatever was trained: once per prepared corpus.
        real_dir = dump_dir.parent / f"{dump_dir.name}_real_target_eval"
        real_scores = None
        if (real_dir / "scores.json").is_file():
            real_scores = json.loads((real_dir / "scores.json").read_text(encoding="utf-8"))
            if any(key not in real_scores["summary"]["overall"] for _, key, _ in COLUMNS):
                real_scores = None  # cached before a column existed: score again
        if real_scores is None:
            real_cfg = copy.deepcopy(cfg.eval)
            real_cfg.baselines = []
            real_scores = evaluate_pairs(out / "real_target.tsv", real_dir, real_cfg, dump=dump, device="cpu").scores
        text = table(res.scores, real_scores)
        n = len(res.scores["utterances"])
        budget = f"{args.steps} steps" if args.steps else f"{args.minutes:g} min"
        rate = (f", {info['steps'] / info['train_seconds']:.2f} steps/s" if info.get("train_seconds") and info["steps"]
                else "")
        knob = f", strength {args.strength:g}" if args.strength != 1.0 else ""
        if args.silence_gate_db is not None:
            knob += f", silence gate {args.silence_gate_db:g} dB"
        print(f"\n{n} conversions, {info['steps']} training steps ({budget}{rate}; {args.conf} "
              f"{' '.join(args.overrides)}{knob})\n")
        print(text)
        print("\n" + res.verdict)
        print(res.pair_verdict)
        if res.gated_verdict:
            print(res.gated_verdict)
        info.update(conversions=n, table=text, verdict=res.verdict, pair_verdict=res.pair_verdict,
                    gated_verdict=res.gated_verdict,
                    comparison=res.scores.get("comparison"),
                    comparison_by_pair=res.scores.get("comparison_by_pair"), report=str(res.report_path))
        (out / "quality.json").write_text(json.dumps(info, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
