"""Feature-extraction throughput: seconds of audio processed per wall-clock second.

Measures :func:`vc.features.extract` (features + F0, as ``vc-prep`` runs it) for log-mel and WORLD
with harvest and dio F0, in one process and in one process per core, on the shared ``vctk_mini``
excerpt when it is present (else on generated speech-like audio). Audio is loaded and resampled
before timing; process pools are started and warmed up before timing. Prints the median of
``--repeats`` runs::

    python benchmarks/features.py [--seconds 60] [--repeats 3] [--sample-rate 24000] [--workers N]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
VCTK_MINI = ROOT.parent / "shared" / "data" / "vctk_mini"


def load_audio(sr: int, budget: float) -> tuple[list[np.ndarray], str]:
    """Clips at ``sr`` adding up to about ``budget`` seconds, and where they came from."""
    from vc.audio import load

    clips: list[np.ndarray] = []
    files = sorted(VCTK_MINI.glob("p*/*.wav")) if VCTK_MINI.is_dir() else []
    if files:
        # Round-robin over speakers so a small budget still covers every voice.
        by_spk: dict[str, list[Path]] = {}
        for f in files:
            by_spk.setdefault(f.parent.name, []).append(f)
        order = [f for group in zip(*by_spk.values()) for f in group]
        for f in order:
            if sum(len(c) for c in clips) >= budget * sr:
                break
            clips.append(load(f, sr))
        return clips, f"{len(clips)} vctk_mini clips"
    sys.path.insert(0, str(ROOT / "tests"))
    from synth import speech_like

    i = 0
    while sum(len(c) for c in clips) < budget * sr:
        clips.append(speech_like(seconds=4.0, sr=sr, f0=(110.0, 210.0)[i % 2], seed=i))
        i += 1
    return clips, f"{len(clips)} generated clips (vctk_mini not found)"


_CFG = None


def _init(cfg) -> None:
    global _CFG
    import torch

    torch.set_num_threads(1)
    _CFG = cfg


def _extract(wav: np.ndarray) -> int:
    from vc.features.extract import extract

    return extract(wav, _CFG).num_frames


def measure(cfg, clips: list[np.ndarray], workers: int, repeats: int) -> float:
    """Median throughput (audio seconds per second) of extracting every clip."""
    total = sum(len(c) for c in clips) / cfg.sample_rate
    times = []
    if workers == 1:
        _init(cfg)
        _extract(clips[0])  # warm-up: lazy imports, JIT, filterbank caches
        for _ in range(repeats):
            t0 = time.perf_counter()
            for c in clips:
                _extract(c)
            times.append(time.perf_counter() - t0)
    else:
        ctx = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init, initargs=(cfg,)) as pool:
            list(pool.map(_extract, [clips[0]] * workers))  # start and warm up every worker
            for _ in range(repeats):
                t0 = time.perf_counter()
                # Longest first, so the last worker does not start a long clip at the end.
                list(pool.map(_extract, sorted(clips, key=len, reverse=True), chunksize=1))
                times.append(time.perf_counter() - t0)
    return total / statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="audio per run (default 60 s)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sample-rate", type=int, default=24000, help="feature rate (default 24 kHz, VCTK recipe)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes for the parallel column")
    args = parser.parse_args(argv)

    import torch

    from vc.features.config import FeatureConfig

    clips, source = load_audio(args.sample_rate, args.seconds)
    total = sum(len(c) for c in clips) / args.sample_rate
    print(
        f"audio: {source}, {total:.1f} s at {args.sample_rate} Hz; median of {args.repeats} runs; "
        f"torch {torch.__version__}, {os.cpu_count()} cores"
    )
    configs = [
        ("mel + harvest F0", FeatureConfig(kind="mel", sample_rate=args.sample_rate, f0_method="harvest")),
        ("mel + dio F0", FeatureConfig(kind="mel", sample_rate=args.sample_rate, f0_method="dio")),
        ("world (harvest)", FeatureConfig(kind="world", sample_rate=args.sample_rate, f0_method="harvest")),
        ("world (dio)", FeatureConfig(kind="world", sample_rate=args.sample_rate, f0_method="dio")),
    ]
    header = f"{'features':<18} {'1 process':>12} {f'{args.workers} processes':>14} {'speed-up':>9}"
    print(header)
    print("-" * len(header))
    for name, cfg in configs:
        one = measure(cfg, clips, 1, args.repeats)
        many = measure(cfg, clips, args.workers, args.repeats) if args.workers > 1 else one
        print(f"{name:<18} {one:>10.1f} x {many:>12.1f} x {many / one:>8.2f}", flush=True)
    print("(x = seconds of audio per second of wall-clock time)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
