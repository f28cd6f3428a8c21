#!/usr/bin/env python3
"""Stage 0 of a recipe: what ``vc-prep`` will read from the configured corpus, before any work.

    python corpus_check.py CONF [--set section.key=value ...]

Lists the corpus with the very reader ``vc-prep`` uses (``data.format``, ``data.root``, symbolic
links followed as ``vc-prep`` follows them), applies ``data.domain_map`` and ``data.domains``, and
prints one line: the layout, the number of audio files, and the files per domain. A corpus with no
audio, or a selected domain with none, is an error naming the folder (exit status 2), as it would be
in ``vc-prep``.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter

from vc.cli.common import user_errors
from vc.config import load_config
from vc.data.readers import expand, read_corpus, read_domain_map
from vc.errors import DataError


@user_errors
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="corpus_check.py", description=__doc__.split("\n\n")[0])
    p.add_argument("config", metavar="CONF")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    args = p.parse_args(argv)
    data = load_config(args.config, args.overrides).data
    root = expand(data.root)
    items = read_corpus(data.format, data.root, data.vctk_mic)
    labels = Counter(label for _, label, _ in items)
    what = {"list": "list file", "generic": "corpus folder", "vctk": "VCTK-style folder"}[data.format]
    if not items:
        raise DataError(f"{root}: {what} holds no audio files vc-prep can read (.wav, .flac, .mp3, .ogg)")
    domain_of = read_domain_map(data.domain_map) if data.domain_map else {label: label for label in labels}
    per_domain: Counter[str] = Counter()
    for label, n in labels.items():
        if label in domain_of:
            per_domain[domain_of[label]] += n
    unmapped = sorted(set(labels) - set(domain_of))
    selected = list(data.domains) or sorted(per_domain)
    missing = [d for d in selected if not per_domain.get(d)]
    if missing and data.missing_domains == "error":
        raise DataError(f"{root}: no audio for domain{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    shown = ", ".join(f"{d} {per_domain[d]}" for d in selected if per_domain.get(d))
    line = (f"{what} {root}: {len(items)} audio files in {len(labels)} "
            f"{'labels' if data.format == 'list' else 'label folders'}; per domain: {shown}")
    if unmapped:
        line += f"; not in the domain map (left out): {', '.join(unmapped)}"
    if missing:
        line += f"; missing (skipped): {', '.join(missing)}"
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
