#!/usr/bin/env python3
"""Conversion lists for a recipe's "convert samples" stage.

    python sample_lists.py --dump DUMP --out SAMPLES [--split test] [--num N]

For every domain of the prepared dump, takes (up to ``N``, 0 = all) utterances of ``--split``, copies
each source file to ``SAMPLES/<utt>/source.<ext>`` and writes one list, ``SAMPLES/lists/all.tsv``, for
``vc-convert --list`` (header ``src target out source``) that converts each of them to every other
domain as ``SAMPLES/<utt>/to_<target>.wav``, its own domain named as the source. Prints the number
of conversions listed.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from vc.cli.common import user_errors
from vc.data.dump import Dump
from vc.io import write_text_atomic


@user_errors
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="sample_lists.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--dump", required=True, help="prepared dump (data.dump_dir)")
    p.add_argument("--out", required=True, help="samples folder to write")
    p.add_argument("--split", default="test", help="train, dev, test or all (default: test)")
    p.add_argument("--num", type=int, default=0, help="source utterances per domain (0: all)")
    args = p.parse_args(argv)

    dump = Dump(args.dump)
    out = Path(args.out).absolute()
    lists = out / "lists"
    lists.mkdir(parents=True, exist_ok=True)
    utts = dump.utterances(args.split)
    rows = ["src\ttarget\tout\tsource"]
    for domain in dump.domains:
        mine = sorted((u for u in utts if u.domain == domain), key=lambda u: u.utt_id)
        if args.num > 0:
            mine = mine[: args.num]
        for u in mine:
            src = Path(u.path)
            folder = out / u.utt_id
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, folder / f"source{src.suffix.lower()}")
            rows += [f"{src}\t{t}\t{folder / f'to_{t}.wav'}\t{domain}" for t in dump.domains if t != domain]
    write_text_atomic(lists / "all.tsv", "\n".join(rows) + "\n")
    print(len(rows) - 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
