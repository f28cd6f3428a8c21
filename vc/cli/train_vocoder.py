"""``vc-train-vocoder CONF [--out DIR] [--resume] [--set section.key=value ...]``

Trains a neural vocoder (HiFi-GAN by default) with parallel-wavegan on the prepared corpus's own
features and records it as the experiment's default vocoder; see :mod:`vc.vocoders.train`.
"""

from __future__ import annotations

import argparse

from vc.cli.common import add_config_args, user_errors


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vc-train-vocoder",
        description="Train a parallel-wavegan vocoder (HiFi-GAN, Parallel WaveGAN, MelGAN) on a prepared corpus.",
    )
    add_config_args(p)
    p.add_argument("--out", help="vocoder directory (default: vocoder.out_dir, else <train.out_dir>/vocoder)")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in the directory")
    return p


@user_errors
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from vc.config import load_config
    from vc.vocoders.train import train_vocoder

    cfg = load_config(args.config, args.overrides)
    train_vocoder(cfg, out_dir=args.out, resume=args.resume)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
