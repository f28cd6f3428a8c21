"""Vocoder real-time factor: synthesis seconds per second of audio (below 1 is faster than real time).

Times each vocoder through the registry (``get_vocoder(...)(feats)``, exactly what conversion
calls) on a ``--seconds`` long input at the toolkit's default features (24 kHz, hop 300, 80 mels;
WORLD at 5 ms for ``world``): every generator type ``vc-train-vocoder`` can train, in both sizes,
with random weights (speed does not depend on training), plus ``world`` and ``griffinlim``. Prints
the median of ``--repeats`` runs after one warm-up, the CPU thread count, and the same for CUDA when
it is available::

    python benchmarks/vocoder_rtf.py [--seconds 10] [--repeats 3] [--threads N] [--only hifigan,world]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from vc.features import FeatureConfig, extract  # noqa: E402
from vc.features.stats import Stats  # noqa: E402
from vc.vocoders import get_vocoder  # noqa: E402
from vc.vocoders.pwg_compat import import_pwg  # noqa: E402
from vc.vocoders.templates import GENERATORS, feature_section, model_section  # noqa: E402


def speech(seconds: float, sr: int) -> np.ndarray:
    from synth import speech_like

    return speech_like(seconds=seconds, sr=sr, f0=140.0, lead_silence=0.05)


def stats_of(feats: np.ndarray) -> Stats:
    return Stats(feats.mean(0), np.maximum(feats.std(0), 1e-3), {"a": 5.0}, {"a": 0.2}, ["a"])


def pwg_dir(root: Path, features: FeatureConfig, generator: str, size: str, stats: Stats) -> Path:
    """A parallel-wavegan directory holding a randomly initialised generator of the template."""
    import h5py

    path = root / f"{generator}-{size}"
    path.mkdir(parents=True)
    config = {**feature_section(features), **model_section(generator, size, features, 1000)}
    (path / "config.yml").write_text(yaml.safe_dump(config))
    net = getattr(import_pwg("models"), config["generator_type"])(**config["generator_params"])
    torch.save({"model": {"generator": net.state_dict()}}, path / "checkpoint-0steps.pkl")
    with h5py.File(path / "stats.h5", "w") as h5:
        h5["mean"], h5["scale"] = stats.mean, stats.scale
    return path


def rtf(fn, audio_seconds: float, repeats: int, cuda: bool = False) -> float:
    fn()  # warm-up: allocations, oneDNN/cuDNN kernel selection
    times = []
    for _ in range(repeats):
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) / audio_seconds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--only", default="", help="comma-separated subset, e.g. hifigan,world")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    only = set(filter(None, args.only.split(",")))
    mel = FeatureConfig()
    world = FeatureConfig(kind="world", f0_method="dio")
    wav = speech(args.seconds, mel.sample_rate)
    seconds = len(wav) / mel.sample_rate
    print(f"input: {seconds:.1f} s at {mel.sample_rate} Hz; torch {torch.__version__}, "
          f"CPU threads {torch.get_num_threads()}; median of {args.repeats} runs")  # fmt: skip

    m = extract(wav, mel)
    mel_stats = stats_of(m.feats)
    mel_in = mel_stats.normalize(m.feats)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rows: list[tuple[str, str, float]] = []
    with tempfile.TemporaryDirectory() as tmp, torch.inference_mode():
        for generator in GENERATORS:
            for size in ("cpu", "paper"):
                if only and generator not in only:
                    continue
                directory = pwg_dir(Path(tmp), mel, generator, size, mel_stats)
                for device in devices:
                    voc = get_vocoder(f"pwg:{directory}", mel, mel_stats, device=device)
                    x = torch.from_numpy(mel_in).to(device)
                    params = sum(t.numel() for t in voc.model.parameters()) / 1e6
                    r = rtf(lambda voc=voc, x=x: voc(x), seconds, args.repeats, cuda=device == "cuda")
                    rows.append((f"{generator} ({size}, {params:.2f}M)", device, r))
                    print(f"  {rows[-1][0]:<34} {device:<5} RTF {r:.4f}", flush=True)
        if not only or "world" in only:
            w = extract(wav, world)
            w_stats = stats_of(w.feats)
            voc = get_vocoder("world", world, w_stats)
            w_in = w_stats.normalize(w.feats)
            r = rtf(lambda: voc(w_in, f0=w.f0, ap=w.ap), seconds, args.repeats)
            rows.append(("world", "cpu", r))
            print(f"  {'world':<34} cpu   RTF {r:.4f}", flush=True)
        if not only or "griffinlim" in only:
            voc = get_vocoder("griffinlim", mel, mel_stats)
            r = rtf(lambda: voc(mel_in), seconds, args.repeats)
            rows.append((f"griffinlim ({voc.n_iter} iterations)", "cpu", r))
            print(f"  {rows[-1][0]:<34} cpu   RTF {r:.4f}", flush=True)

    print("\n| vocoder | device | RTF | x real time |\n|---|---|---|---|")
    for name, device, r in rows:
        print(f"| {name} | {device} | {r:.4f} | {1 / r:.1f} |")


if __name__ == "__main__":
    main()
