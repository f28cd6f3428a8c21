"""Streaming conversion: per-block compute time, real-time factor, latency, memory, and how close the
stream stays to offline conversion.

    python benchmarks/stream.py [--ckpt PATH] [--mel-conf recipes/vctk/conf.yaml] [--threads 1,2]
                                [--seconds 30] [--long-minutes 10] [--latency-ms 180] [--skip-mel] [--skip-compare]

Two set-ups: the cpu WORLD model (``--ckpt``, a trained ``recipes/vctk/conf.cpu.yaml`` checkpoint,
else that config with random weights) and the mel path with a neural vocoder (``--mel-conf`` with
random weights and a randomly initialised HiFi-GAN V1: speed does not depend on training). For each
and each thread count, ``--seconds`` of speech (real VCTK speech from ../shared when present) are
fed in blocks of the plan's block size, as a live source would deliver them; each ``feed`` is one
step. Printed: per-block compute time (median, p95, max), real-time factor (compute / audio),
algorithmic latency and total latency (algorithmic + p95 compute).

``--long-minutes`` streams that many minutes through the WORLD model on one thread and prints the
process's resident memory after the first minute and at the end. With ``--ckpt`` and real speech,
the stream is compared with offline conversion of the same clips (each VCTK test sentence to every
other speaker, known and unknown source): log-spectral distance on 40 mel bands, and, when the
eval extras are installed, Resemblyzer's cosine similarity of both to the target speaker's clips.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from convert_rtf import VCTK_MINI, random_state, test_clip  # noqa: E402

import vc  # noqa: E402
from vc.convert.converter import Converter  # noqa: E402
from vc.streaming import Stream  # noqa: E402
from vc.streaming.stream import LATENCY_MS  # noqa: E402


def rss_mb() -> float:
    """Resident memory of this process now (MB), from /proc."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def time_stream(conv: Converter, wav: np.ndarray, latency_ms: float, source=None) -> dict:
    stream = Stream(conv, target=conv.domains[1], source=source, latency_ms=latency_ms)
    block = stream.plan.block * stream.plan.hop
    times = []
    stream.feed(wav[:block])  # warm-up block (allocator, first analysis), not timed
    for i in range(block, len(wav), block):
        t0 = time.perf_counter()
        stream.feed(wav[i : i + block])
        times.append(time.perf_counter() - t0)
    stream.flush()
    times = np.array(times)
    block_s = block / conv.sample_rate
    p95 = float(np.percentile(times, 95))
    return dict(blocks=len(times), block_ms=1000 * block_s, median_ms=1000 * float(np.median(times)),
                p95_ms=1000 * p95, max_ms=1000 * float(times.max()), rtf=float(times.sum() / (len(times) * block_s)),
                latency_ms=stream.latency_ms, total_ms=stream.latency_ms + 1000 * p95)


def time_threads(conv: Converter, wav: np.ndarray, threads: list[int], latency_ms: float) -> list[tuple[int, dict]]:
    """:func:`time_stream` with each torch thread count in turn."""
    rows = []
    for n in threads:
        torch.set_num_threads(n)
        rows.append((n, time_stream(conv, wav, latency_ms)))
    return rows


def print_rows(name: str, rows: list[tuple[int, dict]]) -> None:
    print(f"\n{name}")
    print(f"{'threads':>7} {'block ms':>8} {'median ms':>9} {'p95 ms':>8} {'max ms':>8} {'RTF':>6} "
          f"{'algo ms':>8} {'total ms':>8}")
    for threads, r in rows:
        print(f"{threads:>7} {r['block_ms']:>8.0f} {r['median_ms']:>9.1f} {r['p95_ms']:>8.1f} {r['max_ms']:>8.1f} "
              f"{r['rtf']:>6.3f} {r['latency_ms']:>8.0f} {r['total_ms']:>8.0f}")


def mel_path_converter(conf: str) -> Converter:
    from vocoder_rtf import pwg_dir

    from vc.features.stats import Stats

    state = random_state(conf, [])
    conv = Converter(state, vocoder="griffinlim", device="cpu")
    q = conv.features.dim
    stats = Stats(np.zeros(q), np.ones(q), {"a": 5.0}, {"a": 0.2}, ["a"])
    tmp = Path(tempfile.mkdtemp(prefix="vc_stream_bench_"))
    voc = pwg_dir(tmp, conv.features, "hifigan", "paper", stats)
    return Converter(state, vocoder=f"pwg:{voc}", device="cpu")


def compare_offline(conv: Converter, latency_ms: float) -> None:
    """Each VCTK test sentence to every other speaker, streamed and offline."""
    from vc.audio import load

    def mel_db(w):
        import librosa

        return 10 * np.log10(librosa.feature.melspectrogram(y=w, sr=conv.sample_rate, n_fft=512, hop_length=128,
                                                            n_mels=40) + 1e-10)

    def lsd(a, b):
        a_db, b_db = mel_db(a), mel_db(b)
        act = a_db.max(0) > a_db.max() - 40
        return float(np.mean(np.sqrt(np.mean((a_db[:, act] - b_db[:, act]) ** 2, axis=0))))

    from vc.eval.extras import SPEAKER_SIMILARITY, SpeakerEncoder, cosine, to_16k, unavailable

    missing = unavailable(SPEAKER_SIMILARITY)
    encoder = None if missing else SpeakerEncoder()
    if missing:
        print(f"(speaker similarity skipped: {missing})")
    sr = conv.sample_rate
    speakers = [d for d in conv.domains if (VCTK_MINI / d).is_dir()]
    results: dict[str, list] = {"known": [], "unknown": []}
    sims: dict[str, list] = {"stream": [], "offline": []}
    for src in speakers:
        for path in sorted((VCTK_MINI / src).glob("*_02[1-3].wav")):
            wav = load(path, conv.sample_rate)
            for tgt in speakers:
                if tgt == src:
                    continue
                for kind, source in (("known", src), ("unknown", None)):
                    stream = Stream(conv, target=tgt, source=source, latency_ms=latency_ms)
                    y = np.concatenate([stream.feed(wav[i : i + 320]) for i in range(0, len(wav), 320)]
                                       + [stream.flush()])
                    off = conv.convert(wav, conv.style(target=tgt, seed=0), source=source)
                    results[kind].append(lsd(off, y))
                    if encoder is not None and kind == "unknown":
                        refs = [load(p, 16000) for p in sorted((VCTK_MINI / tgt).glob("*_00[1-5].wav"))]
                        centroid = encoder.mean_embedding(refs)
                        for name, w in (("stream", y), ("offline", off)):
                            sims[name].append(cosine(encoder.embed(to_16k(w, sr)), centroid))
    print(f"\nstream vs offline on real speech ({len(results['known'])} conversions of VCTK test sentences):")
    for kind in ("known", "unknown"):
        v = results[kind]
        print(f"  {kind} source: mel log-spectral distance median {np.median(v):.2f} dB, max {np.max(v):.2f} dB")
    if sims["stream"]:
        d = np.array(sims["stream"]) - np.array(sims["offline"])
        print(f"  speaker similarity to the target (unknown source): stream {np.mean(sims['stream']):.3f}, "
              f"offline {np.mean(sims['offline']):.3f} (difference {d.mean():+.3f}, max |.| {np.abs(d).max():.3f})")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ckpt", help="a trained cpu-config checkpoint (default: random weights of --world-conf)")
    p.add_argument("--world-conf", default=str(ROOT / "recipes" / "vctk" / "conf.cpu.yaml"))
    p.add_argument("--mel-conf", default=str(ROOT / "recipes" / "vctk" / "conf.yaml"))
    p.add_argument("--threads", default="1,2")
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--mel-seconds", type=float, default=10.0)
    p.add_argument("--long-minutes", type=float, default=10.0)
    p.add_argument("--latency-ms", type=float, default=LATENCY_MS)
    p.add_argument("--skip-mel", action="store_true")
    p.add_argument("--skip-compare", action="store_true", help="no comparison with offline conversion")
    args = p.parse_args()
    threads = [int(t) for t in args.threads.split(",")]
    print(f"machine: {os.cpu_count()} cores; torch {torch.__version__}")

    if args.ckpt:
        world = vc.load(args.ckpt, device="cpu")
    else:
        world = Converter(random_state(args.world_conf, []), device="cpu")
    wav = test_clip(args.seconds, world.sample_rate)
    rows = time_threads(world, wav, threads, args.latency_ms)
    print_rows(f"cpu WORLD model ({args.ckpt or args.world_conf + ', random weights'}), vocoder {world.vocoder_name}, "
               f"{len(wav) / world.sample_rate:.0f} s of speech", rows)

    if not args.skip_mel:
        mel = mel_path_converter(args.mel_conf)
        mwav = test_clip(args.mel_seconds, mel.sample_rate)
        rows = time_threads(mel, mwav, threads, args.latency_ms)
        print_rows(f"mel path ({args.mel_conf}, random weights), HiFi-GAN V1 vocoder (random weights), "
                   f"{len(mwav) / mel.sample_rate:.0f} s of speech", rows)

    if args.long_minutes > 0:
        torch.set_num_threads(1)
        stream = Stream(world, target=world.domains[1], latency_ms=args.latency_ms)
        block = stream.plan.block * stream.plan.hop
        total = int(args.long_minutes * 60 * world.sample_rate)
        fed, first, out = 0, None, 0
        t0 = time.perf_counter()
        while fed < total:
            for i in range(0, len(wav), block):
                out += len(stream.feed(wav[i : i + block]))
                fed += len(wav[i : i + block])
                if first is None and fed >= 60 * world.sample_rate:
                    first = rss_mb()
                if fed >= total:
                    break
        out += len(stream.flush())
        print(f"\n{args.long_minutes:g}-minute stream (1 thread): resident memory {first:.0f} MB after 1 minute, "
              f"{rss_mb():.0f} MB at the end; {out} of {fed} samples out; "
              f"{time.perf_counter() - t0:.0f} s of compute")

    if args.ckpt and VCTK_MINI.is_dir() and not args.skip_compare:
        torch.set_num_threads(threads[-1])
        compare_offline(world, args.latency_ms)


if __name__ == "__main__":
    main()
