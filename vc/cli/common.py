"""What every console script shares: config arguments and turning user errors into one line."""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable

from vc.errors import VCError


def add_config_args(parser: argparse.ArgumentParser, required: bool = True) -> None:
    """``CONF`` positional plus repeatable ``--set section.key=value`` overrides."""
    parser.add_argument(
        "config", metavar="CONF", nargs=None if required else "?", help="experiment YAML config"
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override one config value (repeatable), e.g. --set train.max_steps=100",
    )


def die(message: str, code: int = 2) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(code)


def user_errors(fn: Callable[..., int | None]) -> Callable[..., int | None]:
    """Decorator for ``main``: a :class:`VCError` becomes ``error: <message>`` and a non-zero exit."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except VCError as exc:
            die(str(exc).splitlines()[0] if str(exc) else type(exc).__name__, exc.exit_code)
        except KeyboardInterrupt:
            die("interrupted", 130)

    return wrapper
