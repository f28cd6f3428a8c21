"""``vc-convert``: convert speech to a target domain, or to the voice of a sample clip.

    vc-convert --src a.wav --target p225 [--out out.wav] [--seed S] [--num-styles K]
    vc-convert --src a.wav --ref sample.wav [--target p225]
    vc-convert --src-dir DIR --out-dir OUT --target p225
    vc-convert --list pairs.tsv            # columns: src, target (or ref), out [, source]
    vc-convert --stream --src a.wav --target p225 --out out.wav [--latency-ms 180]
    arecord -f S16_LE -r 16000 | vc-convert --stream --src - --target p225 --out - | aplay -f S16_LE -r 16000

``--ckpt`` defaults to $VC_CKPT, else the newest checkpoint under ./exp/.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vc.cli.common import die, user_errors
from vc.errors import ConfigError, VCError

AUDIO_EXTS = {".wav", ".flac", ".mp3", ".ogg"}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vc-convert", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    src = p.add_argument_group("what to convert (one of)")
    src.add_argument("--src", help="source audio file")
    src.add_argument("--src-dir", help="convert every audio file under this directory (needs --out-dir)")
    src.add_argument("--list", help="TSV of src, target-or-ref, out and optionally the source domain (a header "
                     "line 'src target out [source]' or 'src ref out [source]' is optional)")
    p.add_argument("--target", help="target domain (speaker); with --ref, picks the style encoder's head")
    p.add_argument("--ref", help="reference clip whose voice to convert to (style encoder; any speaker on a model "
                   "trained with model.style_head: shared, else read as the closest training domain)")
    p.add_argument("--source", help="source domain, when the source speaker is one of the model's domains")
    p.add_argument("--out", help="output file (default: <src>_to_<target>.wav next to the source)")
    p.add_argument("--out-dir", help="output directory for --src-dir")
    p.add_argument("--ckpt", help="checkpoint (default: $VC_CKPT, else the newest under ./exp/)")
    p.add_argument("--vocoder", help="world, griffinlim or pwg:<dir> (default: the experiment's own)")
    p.add_argument("--seed", type=int, help="seed for the mapping-network style (reproducible output)")
    p.add_argument("--num-styles", type=int, default=1, metavar="K", help="write K outputs with diverse styles")
    p.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    p.add_argument("--strength", type=float, default=1.0,
                   help="StarGAN v2: how much of the generator's change to apply, 0-2 (default 1; 0 on a "
                   "model with generator_base: statistical gives the statistical conversion)")
    p.add_argument("--silence-gate-db", type=float, metavar="DB",
                   help="silence gate: lower frames more than DB below the input's loud level (0: off; "
                   "default: the checkpoint's vocoder.silence_gate_db)")
    p.add_argument("--source-band-hz", type=float, metavar="HZ",
                   help="WORLD models: above HZ take the source's own waveform (pitch moved by PSOLA, filtered "
                   "by the converted envelope) instead of WORLD's synthesis (0: off; default: the "
                   "checkpoint's vocoder.source_band_hz; not used with --stream)")
    live = p.add_argument_group("streaming (block by block, as the audio arrives)")
    live.add_argument("--stream", action="store_true",
                      help="convert --src (a file at the model's rate, or - for raw 16-bit mono PCM on stdin) "
                      "block by block into --out (a WAV file, or - for raw 16-bit PCM on stdout)")
    live.add_argument("--latency-ms", type=float, help="algorithmic latency (default: vc.streaming's, 180)")
    live.add_argument("--block-ms", type=float, help="audio converted per step (default: half the latency)")
    return p


def _default_out(src: Path, label: str, out_dir: Path | None = None) -> Path:
    return (out_dir or src.parent) / f"{src.stem}_to_{label}.wav"


def _numbered(path: Path, k: int, total: int) -> Path:
    return path if total == 1 else path.with_name(f"{path.stem}_{k}{path.suffix or '.wav'}")


Job = tuple[Path, "str | None", "str | None", Path, "str | None"]
"""One conversion: (src, target, ref, out, source domain or None)."""


def _read_list(path: Path) -> list[Job]:
    """Rows of (src, target, ref, out, source) from a pairs TSV; relative paths resolve against its
    folder. The fourth column, the source domain, is optional (empty: unknown)."""
    if not path.is_file():
        raise ConfigError(f"{path}: list file not found")
    rows = []
    mode = None
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        cols = [c.strip() for c in line.split("\t")]
        if lineno == 1 and cols[0].lower() == "src":
            names = [c.lower() for c in cols]
            if (len(cols) not in (3, 4) or names[1] not in ("target", "ref") or names[2] != "out"
                    or names[3:] not in ([], ["source"])):
                raise ConfigError(f"{path}:1: header must be 'src<TAB>target<TAB>out' or 'src<TAB>ref<TAB>out', "
                                  "optionally followed by '<TAB>source'")
            mode = names[1]
            continue
        if len(cols) not in (3, 4):
            raise ConfigError(f"{path}:{lineno}: expected 3 or 4 tab-separated columns "
                              "(src, target or ref, out, optionally the source domain)")
        src, mid, out = (cols[0], cols[1], cols[2])
        source = cols[3] if len(cols) == 4 and cols[3] else None

        def resolve(p: str) -> Path:
            q = Path(p).expanduser()
            return q if q.is_absolute() else path.parent / q

        row_mode = mode or ("ref" if Path(mid).suffix.lower() in AUDIO_EXTS else "target")
        rows.append((resolve(src), mid if row_mode == "target" else None,
                     str(resolve(mid)) if row_mode == "ref" else None, resolve(out), source))
    if not rows:
        raise ConfigError(f"{path}: no conversions listed")
    return rows


def _jobs(args, conv) -> list[Job]:
    """Expand the command line into (src, target, ref, out, source) jobs; ``--source`` fills in the
    source domain a list row leaves empty."""
    if args.list:
        return [(src, target, ref, out, source or args.source)
                for src, target, ref, out, source in _read_list(Path(args.list))]
    if not args.target and not args.ref:
        raise ConfigError("give --target DOMAIN or --ref CLIP")
    target = args.target
    if args.ref and not target and conv.any_to_any:
        print(f"converting to the voice of {args.ref} (shared style head: its own style and pitch)", file=sys.stderr)
    elif args.ref and not target:
        target = conv.judge(args.ref)
        print(f"reference {args.ref} judged closest to domain {target}", file=sys.stderr)
    label = target if not args.ref else Path(args.ref).stem
    if args.src_dir:
        root = Path(args.src_dir)
        if not root.is_dir():
            raise ConfigError(f"{root}: source directory not found")
        if not args.out_dir:
            raise ConfigError("--src-dir needs --out-dir")
        out_dir = Path(args.out_dir)
        files = sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_EXTS and p.is_file())
        if not files:
            raise ConfigError(f"{root}: no audio files (.wav, .flac, .mp3, .ogg) found")
        return [(f, target, args.ref, _default_out(f, label, out_dir / f.parent.relative_to(root)), args.source)
                for f in files]
    src = Path(args.src)
    out = Path(args.out) if args.out else _default_out(src, label)
    return [(src, target, args.ref, out, args.source)]


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def _stream(args, conv) -> int:
    from vc.streaming import Stream
    from vc.streaming.io import stream_convert
    from vc.streaming.stream import LATENCY_MS

    if not args.target and not args.ref:
        raise ConfigError("give --target DOMAIN or --ref CLIP")
    stream = Stream(conv, target=args.target, ref=args.ref, source=args.source, seed=args.seed or 0,
                    latency_ms=args.latency_ms or LATENCY_MS, block_ms=args.block_ms)
    if args.out:
        out = args.out
    else:
        out = str(_default_out(Path(args.src), args.target or Path(args.ref).stem))
    if out != "-" and args.src != "-" and _same_file(Path(args.src), Path(out)):
        raise ConfigError(f"{out}: refusing to overwrite the source file")
    p = stream.plan
    print(f"streaming to {stream.target or args.ref} at {stream.latency_ms:.0f} ms algorithmic latency (blocks of "
          f"{p.block_ms:.0f} ms, {p.ms(p.lookahead):.0f} ms lookahead, {p.ms(p.margin):.0f} ms analysis margin)",
          file=sys.stderr)
    samples = stream_convert(stream, args.src, out)
    if out != "-":
        print(out)
    print(f"streamed {samples / stream.sample_rate:.2f} s", file=sys.stderr)
    return 0


@user_errors
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    given = [x for x in (args.src, args.src_dir, args.list) if x]
    if len(given) != 1:
        die("give exactly one of --src, --src-dir or --list")
    if args.num_styles < 1:
        die("--num-styles must be at least 1")
    if args.ref and args.num_styles > 1:
        die("--num-styles draws styles from the mapping network; it does not apply to --ref")

    if args.stream and (not args.src or args.src_dir or args.list):
        die("--stream converts one --src (a file, or - for stdin)")
    if args.src == "-" and not args.stream:
        die("--src - (stdin) needs --stream")
    if args.stream and args.num_styles > 1:
        die("--stream writes one output; --num-styles does not apply")
    if args.stream and args.src == "-" and not args.out:
        die("--src - needs --out FILE.wav, or --out - for raw PCM on stdout")

    import vc
    from vc.audio import save

    conv = vc.load(args.ckpt, vocoder=args.vocoder, device=args.device, strength=args.strength,
                   silence_gate_db=args.silence_gate_db, source_band_hz=args.source_band_hz)
    if args.target:
        conv.domain_index(args.target)  # fail fast on an unknown target, before any work
    if args.source:
        conv.domain_index(args.source, "source domain")
    if args.ref and not conv.family.has_style_encoder:
        raise ConfigError(f"--ref needs a style encoder; model family {conv.cfg.model.name} has none (use --target)")
    if args.stream:
        return _stream(args, conv)
    jobs = _jobs(args, conv)

    from tqdm.auto import tqdm

    failures: list[str] = []
    written = 0
    batch = len(jobs) > 1
    for src, target, ref, out, source in tqdm(jobs, desc="convert", disable=not batch, file=sys.stderr):
        try:
            if source is not None:
                conv.domain_index(source, "source domain")  # an unknown one fails this row, naming it
            for k in range(args.num_styles):
                dest = _numbered(out, k, args.num_styles)
                if _same_file(src, dest):
                    raise ConfigError(f"{dest}: refusing to overwrite the source file")
                seed = None if args.seed is None else args.seed + k
                wav, sr = conv(src, target=target, ref=ref, seed=seed, source=source)
                save(dest, wav, sr)
                written += 1
                if not batch:
                    print(dest)
        except VCError as exc:
            if not batch:
                raise
            failures.append(f"{src}: {str(exc).splitlines()[0]}")
    if batch:
        print(f"wrote {written} file(s); {len(failures)} failed", file=sys.stderr)
        for line in failures:
            print(f"failed: {line}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
