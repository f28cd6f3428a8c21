"""``vc-eval``: objective scores and an offline HTML listening report.

    vc-eval --ckpt PATH [--split test] [--out DIR] [--dump DIR] [--vocoder V] [--max-utts N] [--targets a,b]
    vc-eval --pairs pairs.tsv [--ckpt PATH | --config CONF] [--out DIR] [--dump DIR] [--silence-gate-db DB]
    vc-eval --ckpt PATH --refs DIR|unseen [--split test] [--max-utts 2] [--out DIR]

With only ``--ckpt`` it converts every utterance of the split to every other domain itself and
scores the conversions; with ``--pairs`` it scores conversions made elsewhere. The pairs file is
tab-separated with a header line: converted, source, src_domain, tgt_domain, and optionally
target_ref (a parallel utterance of the target speaker, for MCD) and text (for the word error rate).
Domain accuracy needs the training corpus: in pairs mode give ``--ckpt`` or ``--config``.

Writes <out>/scores.json and <out>/report.html (audio in <out>/wav/, pictures in <out>/plots/) and
prints one line of headline scores, one line comparing the model with the statistical baseline (the
baselines, scored by the same code on the same utterances, are in scores.json and the report), one
line naming the domain pairs on which that baseline is ahead with 95% confidence, and, when the
conversions went through a silence gate, one line comparing the model with the statistical conversion
through the same gate (in pairs mode the gate is the config's ``vocoder.silence_gate_db``, or
``--silence-gate-db``).
Exit status 1 when some conversions could not be scored.

With ``--refs`` it evaluates conversion to the voices of unseen speakers instead (vc.eval.unseen):
held-out sources (2 per domain unless --max-utts) are converted to the voice of one clip of each
speaker in DIR (``<speaker>/*.wav`` or flat files; ``unseen``: the dump's held-out domains), and to
the nearest training speaker as the baseline; it prints how often the conversion is closer to the
reference speaker than to the source, and its similarity to the reference against the baseline's.
"""

from __future__ import annotations

import argparse
import sys

from vc.cli.common import die, user_errors


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vc-eval", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--ckpt", help="checkpoint: converts the split itself, or (with --pairs) names the experiment "
                   "whose corpus trains the domain classifier")
    p.add_argument("--pairs", help="TSV of conversions made elsewhere (see above)")
    p.add_argument("--config", help="with --pairs: experiment YAML whose data.dump_dir trains the domain classifier")
    p.add_argument("--split", help="split to convert with --ckpt (default: eval.split, normally test)")
    p.add_argument("--out", help="output folder (default: <experiment>/eval/<split>, or <pairs>_eval beside the "
                   "pairs file)")
    p.add_argument("--dump", help="the prepared dump, when the config's data.dump_dir is not found from here")
    p.add_argument("--vocoder", help="with --ckpt: world, griffinlim or pwg:<dir> (default: the experiment's own)")
    p.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    p.add_argument("--workers", type=int, help="processes for the per-pair scores (default: eval.num_workers; "
                   "0: every core)")
    p.add_argument("--max-utts", type=int, help="source utterances per domain (default: eval.max_utts; 0: all)")
    p.add_argument("--targets", help="comma-separated target domains (default: every other domain)")
    p.add_argument("--refs", help="with --ckpt: folder of reference clips of unseen speakers, or 'unseen' (the "
                   "dump's held-out domains); evaluates conversion to their voices")
    p.add_argument("--silence-gate-db", type=float, metavar="DB",
                   help="with --pairs: the silence gate the conversions were made with (vc-convert "
                   "--silence-gate-db; default: the --ckpt/--config's vocoder.silence_gate_db; 0: none)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="eval.KEY=VALUE",
                   help="override an eval setting (repeatable), e.g. --set eval.classifier_steps=500")
    return p


@user_errors
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.ckpt and not args.pairs:
        die("give --ckpt PATH (convert and score a split) or --pairs FILE (score conversions made elsewhere)")
    if args.config and not args.pairs:
        die("--config goes with --pairs; with --ckpt the checkpoint's own config is used")
    if args.config and args.ckpt:
        die("give --ckpt or --config with --pairs, not both")
    if args.pairs and (args.split or args.vocoder or args.max_utts is not None or args.targets):
        die("--split, --vocoder, --max-utts and --targets apply to --ckpt without --pairs")
    if args.workers is not None and args.workers < 0:
        die("--workers must be 0 (every core) or positive")
    if args.silence_gate_db is not None and not args.pairs:
        die("--silence-gate-db goes with --pairs; with --ckpt the checkpoint's own gate is used")
    if args.silence_gate_db is not None and args.silence_gate_db < 0:
        die(f"--silence-gate-db must be >= 0 (0: none), got {args.silence_gate_db:g}")
    if args.refs:
        return _unseen(args)

    from vc.eval.config import EvalConfig
    from vc.eval.evaluate import checkpoint_setup, eval_config_with_overrides, evaluate_checkpoint, evaluate_pairs

    overrides = list(args.overrides)
    if args.max_utts is not None:
        overrides.append(f"eval.max_utts={args.max_utts}")
    if args.targets:
        overrides.append(f"eval.targets=[{', '.join(t.strip() for t in args.targets.split(',') if t.strip())}]")

    if args.pairs:
        from vc.vocoders.config import VocoderConfig

        dump = None
        classifier_dir = None
        base = EvalConfig()
        vocoder = None
        if args.ckpt:
            exp_cfg, dump, exp_dir = checkpoint_setup(args.ckpt, args.dump)
            base, classifier_dir, vocoder = exp_cfg.eval, exp_dir / "eval", exp_cfg.vocoder
        elif args.config:
            from vc.config import load_config
            from vc.data.dump import Dump
            from vc.eval.evaluate import resolve_dump_dir

            exp_cfg = load_config(args.config)
            dump = Dump(resolve_dump_dir(exp_cfg, None, args.dump), exp_cfg.features)
            base, vocoder = exp_cfg.eval, exp_cfg.vocoder
        elif args.dump:
            from vc.data.dump import Dump

            dump = Dump(args.dump)
        cfg = eval_config_with_overrides(base, overrides)
        gate = None
        if vocoder is not None or args.silence_gate_db is not None:
            vocoder = vocoder or VocoderConfig()
            db = vocoder.silence_gate_db if args.silence_gate_db is None else args.silence_gate_db
            gate = (db, vocoder.silence_gate_ratio)
        result = evaluate_pairs(args.pairs, args.out, cfg, dump=dump, classifier_dir=classifier_dir,
                                device=args.device, workers=args.workers, silence_gate=gate)
    else:
        for text in overrides:  # check them before the checkpoint loads
            eval_config_with_overrides(EvalConfig(), [text])
        result = evaluate_checkpoint(args.ckpt, args.out, args.split, dump_dir=args.dump, vocoder=args.vocoder,
                                     device=args.device, workers=args.workers, overrides=overrides)

    for f in result.failed:
        where = f" (line {f['line']})" if f.get("line") else ""
        print(f"failed: {f['id']}{where}: {f['error']}", file=sys.stderr)
    print(f"{result.headline} | report: {result.report_path}")
    if result.verdict:
        print(result.verdict)
    if result.pair_verdict:
        print(result.pair_verdict)
    if result.gated_verdict:
        print(result.gated_verdict)
    return 1 if result.failed else 0


def _unseen(args: argparse.Namespace) -> int:
    if not args.ckpt or args.pairs:
        die("--refs goes with --ckpt, not --pairs")
    if args.targets or args.overrides:
        die("--targets and --set do not apply to --refs")
    if args.max_utts is not None and args.max_utts < 0:
        die("--max-utts must be 0 (all) or positive")
    from vc.eval.unseen import evaluate_unseen

    result = evaluate_unseen(args.ckpt, args.refs, args.out, split=args.split or "test",
                             max_utts=2 if args.max_utts is None else args.max_utts, dump_dir=args.dump,
                             vocoder=args.vocoder, device=args.device)
    for f in result.failed:
        print(f"failed: {f['id']}: {f['error']}", file=sys.stderr)
    print(f"{result.headline} | report: {result.out_dir / 'report.html'}")
    return 1 if result.failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
