"""Real-time factor of each conversion stage for a 10 s clip.

    python benchmarks/convert_rtf.py [--ckpt PATH | --conf recipes/vctk/conf.yaml] [--vocoder NAME]
                                     [--device cpu|cuda] [--seconds 10] [--repeats 5]

Stages: load + features (audio read, resample, log-mel or WORLD analysis incl. F0), generator (EMA,
mapping-network style), vocoder, and the whole ``Converter.__call__`` (which adds loudness matching).
RTF = processing seconds / audio seconds (lower is faster); medians over ``--repeats`` runs.
Without ``--ckpt`` the nets of ``--conf`` get random weights: speed does not depend on training.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import vc  # noqa: E402
from vc.config import load_config, to_dict  # noqa: E402
from vc.convert.converter import Converter  # noqa: E402
from vc.features.stats import Stats  # noqa: E402
from vc.models import get_family  # noqa: E402

VCTK_MINI = Path(__file__).resolve().parents[2] / "shared" / "data" / "vctk_mini"


def test_clip(seconds: float, sr: int) -> np.ndarray:
    """Real speech from vctk_mini when present, else a harmonic signal with a moving pitch."""
    if VCTK_MINI.is_dir():
        from vc.audio import load

        parts, total = [], 0
        for path in sorted(VCTK_MINI.glob("p2*/*.wav")):
            parts.append(load(path, sr))
            total += len(parts[-1])
            if total >= seconds * sr:
                break
        return np.concatenate(parts)[: int(seconds * sr)]
    t = np.arange(int(seconds * sr)) / sr
    f0 = 140 + 30 * np.sin(2 * np.pi * 0.5 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    return (0.1 * sum(np.sin(k * phase) / k for k in range(1, 30))).astype(np.float32)


def random_state(conf: str, overrides: list[str]) -> dict:
    """A checkpoint-shaped dict with random weights and neutral statistics for 4 domains."""
    cfg = load_config(conf, overrides)
    domains = ["d0", "d1", "d2", "d3"]
    family = get_family(cfg.model.name)
    nets = family.build(cfg, cfg.features.dim, len(domains))
    q = cfg.features.dim
    stats = Stats(np.zeros(q), np.ones(q), {d: np.log(150.0) for d in domains}, {d: 0.2 for d in domains}, domains)
    return {
        "config": to_dict(cfg), "domains": domains, "stats": stats.to_dict(),
        "nets": {k: v.state_dict() for k, v in nets.items()},
        "ema": {k: nets[k].state_dict() for k in family.ema_nets}, "path": conf,
    }


def timed(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ckpt")
    p.add_argument("--conf", default="recipes/vctk/conf.yaml")
    p.add_argument("--set", dest="overrides", action="append", default=[])
    p.add_argument("--vocoder")
    p.add_argument("--device", default="cpu")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()

    if args.ckpt:
        conv = vc.load(args.ckpt, vocoder=args.vocoder, device=args.device)
    else:
        conv = Converter(random_state(args.conf, args.overrides), vocoder=args.vocoder, device=args.device)
    sr = conv.sample_rate
    wav = test_clip(args.seconds, sr)
    seconds = len(wav) / sr
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clip.wav"
        sf.write(path, wav, sr)
        style = conv.style(target=conv.domains[1], seed=0)
        conv(path, target=conv.domains[1], seed=0)  # warm-up (numba, allocator, cuDNN)

        t_feat, (feats, x) = timed(lambda: conv._feature_image(conv._load(path, None, "source")), args.repeats)
        f0n = torch.from_numpy(conv._f0_norm(feats.f0, None)).float()[None].to(conv.device)
        with torch.no_grad():
            t_gen, y = timed(lambda: conv.family.convert(conv.nets, x, f0n, 0, style.target, style.vector),
                             args.repeats)
        mel = y[0, 0].float().cpu().numpy().T
        f0 = conv._map_f0(feats.f0, None, conv.domains[1])
        t_voc, _ = timed(lambda: conv.vocoder(mel, f0=f0, ap=feats.ap), args.repeats)
        t_all, _ = timed(lambda: conv(path, target=conv.domains[1], seed=0), args.repeats)

    print(f"model {conv.cfg.model.name} ({'checkpoint ' + args.ckpt if args.ckpt else args.conf}), "
          f"features {conv.features.kind} @ {sr} Hz, vocoder {conv.vocoder_name}, device {conv.device}, "
          f"torch threads {torch.get_num_threads()}, clip {seconds:.1f} s, median of {args.repeats}")
    print(f"{'stage':<18}{'seconds':>10}{'RTF':>10}")
    for name, t in (("load + features", t_feat), ("generator", t_gen), ("vocoder", t_voc), ("total", t_all)):
        print(f"{name:<18}{t:>10.3f}{t / seconds:>10.3f}")


if __name__ == "__main__":
    main()
