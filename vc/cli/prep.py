"""``vc-prep CONF [--set section.key=value ...]``: prepare a corpus into ``data.dump_dir``.

Reads the corpus, extracts features in parallel (``data.num_workers``), splits it, computes the
statistics, and prints a summary; the resolved config is saved as ``<dump_dir>/config.yaml``.
"""

from __future__ import annotations

import argparse
import sys

from vc.cli.common import add_config_args, user_errors


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vc-prep",
        description="Prepare a corpus: feature caches, train/dev/test manifests and statistics.",
    )
    add_config_args(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bar and no per-domain table")
    return parser


@user_errors
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    from vc.config import load_config
    from vc.data.prep import prepare

    cfg = load_config(args.config, args.overrides)
    result = prepare(cfg, progress=not args.quiet)
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    if result.rejected:
        print(
            f"note: {len(result.rejected)} files rejected, see {result.dump_dir / 'rejected.tsv'}",
            file=sys.stderr,
        )
    if not args.quiet:
        print(result.table())
    print(f"vc-prep: {result.summary()} ({result.seconds:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
