"""``vc-train CONF [--out DIR] [--resume] [--device cpu|cuda] [--set section.key=value ...]``

Multi-GPU: ``torchrun --nproc_per_node N $(which vc-train) CONF``.
"""

from __future__ import annotations

import argparse

from vc.cli.common import add_config_args, user_errors


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vc-train", description="Train a voice-conversion model on a prepared corpus.")
    add_config_args(p)
    p.add_argument("--out", help="experiment directory (default: train.out_dir from the config)")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in the experiment dir")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], help="default: train.device (auto)")
    return p


@user_errors
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from vc.config import load_config
    from vc.train import train

    cfg = load_config(args.config, args.overrides)
    train(cfg, out_dir=args.out, resume=args.resume, device=args.device)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
