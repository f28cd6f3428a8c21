#!/usr/bin/env python3
"""Print resolved config values for a recipe's run.sh, one per line.

    python conf_get.py CONF [--set section.key=value ...] KEY [KEY ...]

KEY is a dotted path such as ``train.out_dir``; the config is checked exactly as ``vc-train`` checks
it, so a misspelt key in CONF or in ``--set`` fails here, before any work is done. Lists print as
space-separated words.
"""

from __future__ import annotations

import argparse
import sys

from vc.cli.common import user_errors
from vc.config import load_config, to_dict
from vc.errors import ConfigError


@user_errors
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="conf_get.py", description=__doc__.split("\n\n")[0])
    p.add_argument("config", metavar="CONF")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    p.add_argument("keys", nargs="+", metavar="KEY")
    args = p.parse_args(argv)
    data = to_dict(load_config(args.config, args.overrides))
    for key in args.keys:
        node = data
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                raise ConfigError(f"{args.config}: no config key {key}")
            node = node[part]
        print(" ".join(map(str, node)) if isinstance(node, list) else node)
    return 0


if __name__ == "__main__":
    sys.exit(main())
