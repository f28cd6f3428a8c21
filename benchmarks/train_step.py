"""Training-step cost of every model family: seconds per step and peak memory.

One step is what ``vc-train`` does per batch: one discriminator update and one generator update (plus
the EMA update), run by the training loop's own ``Trainer.train_step`` on synthetic random batches
(no corpus needed; speed does not depend on the data). Each family is measured in two sizes:

* ``default``: the family's VCTK recipe (``recipes/vctk/conf.yaml`` for stargan_v2,
  ``conf.stargan_vc.yaml``, ``conf.stargan_vc2.yaml``), i.e. paper scale;
* ``cpu``: the same recipe with the CPU preset's model (and batch size) settings, from
  ``recipes/vctk/conf.cpu.yaml`` when it exists, else :data:`CPU_PRESET`.

Features (Q rows), crop (N frames), batch size and domain count come from the config (``--batch-size``
overrides the batch). Every measurement runs in its own process so the peak memory is its own: on
CPU the rise of the peak resident set size (``ru_maxrss``) over the level after building the nets,
on CUDA ``torch.cuda.max_memory_allocated``. Reports the median of ``--steps`` timed steps after
``--warmup`` untimed ones::

    python benchmarks/train_step.py [--device cpu|cuda] [--families stargan_vc,stargan_vc2]
                                    [--configs default,cpu] [--batch-size B] [--steps 5] [--warmup 2] [--threads N]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RECIPES = ROOT / "recipes" / "vctk"
FAMILY_RECIPES = {
    "stargan_v2": RECIPES / "conf.yaml",
    "stargan_vc": RECIPES / "conf.stargan_vc.yaml",
    "stargan_vc2": RECIPES / "conf.stargan_vc2.yaml",
}
CPU_RECIPE = RECIPES / "conf.cpu.yaml"
CPU_PRESET: dict[str, dict[str, Any]] = {
    "model": dict(dim_in=16, max_conv_dim=128, n_down=3, n_bottleneck=2, mapping_hidden=128, style_dim_in=16,
                  disc_dim=16, disc_max_dim=128, f0_net_dim=16),
    "loss": dict(split_branches=True),
}
"""The StarGAN v2 CPU preset, used when ``recipes/vctk/conf.cpu.yaml`` does not exist."""
DEFAULT_DOMAINS = 20


def _read_yaml(path: Path) -> dict[str, Any]:
    from vc.config import read_yaml

    return read_yaml(path)


def config_dict(family: str, size: str) -> tuple[dict[str, Any], str]:
    """The plain config dict of ``family`` at ``size`` (``default`` or ``cpu``) and where it came from."""
    recipe = FAMILY_RECIPES.get(family)
    if recipe is not None and recipe.is_file():
        data, source = _read_yaml(recipe), recipe.name
    else:
        data, source = {}, "built-in defaults"
    data = copy.deepcopy(data)
    data.setdefault("model", {})["name"] = family
    if size == "default":
        return data, source
    if family == "stargan_v2" and CPU_RECIPE.is_file():
        data = _read_yaml(CPU_RECIPE)
        data.setdefault("model", {})["name"] = family
        return data, CPU_RECIPE.name
    preset = CPU_PRESET
    if CPU_RECIPE.is_file():
        cpu = _read_yaml(CPU_RECIPE)
        preset = {"model": cpu.get("model", {}), "loss": cpu.get("loss", {}),
                  "train": {k: v for k, v in cpu.get("train", {}).items() if k == "batch_size"}}
        source += f" + model of {CPU_RECIPE.name}"
    else:
        source += " + CPU preset"
    for section, values in preset.items():
        # the preset's feature-independent sizes only: the family keeps its name, features and crop
        keep = {k: v for k, v in values.items() if k not in ("name", "crop_frames")}
        data.setdefault(section, {}).update(keep)
    return data, source


def synthetic_batch(b: int, q: int, n: int, k: int, device: str) -> dict[str, Any]:
    """A random batch shaped like :class:`vc.data.FeatureDataset`'s (see docs/architecture.md)."""
    import torch

    g = torch.Generator().manual_seed(0)
    voiced = (torch.rand(b, n, generator=g) > 0.3).float()
    batch = {
        "x": torch.randn(b, 1, q, n, generator=g),
        "f0n": torch.randn(b, n, generator=g) * voiced,
        "voiced": voiced,
        "y": torch.randint(0, k, (b,), generator=g),
        "x_ref": torch.randn(b, 1, q, n, generator=g),
        "x_ref2": torch.randn(b, 1, q, n, generator=g),
        "y_ref": torch.randint(0, k, (b,), generator=g),
    }
    return {key: v.to(device) for key, v in batch.items()}


def bench_trainer(cfg, num_domains: int, device):
    """A :class:`vc.train.loop.Trainer` without a dataset: nets, EMA copies, optimisers and schedulers
    built as ``Trainer.__init__`` builds them, so ``train_step`` is the loop's own code."""
    import torch

    from vc.models import get_family
    from vc.train.distributed import DistInfo
    from vc.train.loop import Trainer

    tr = Trainer.__new__(Trainer)
    tr.cfg, tr.device, tr.info = cfg, device, DistInfo()
    tr.family = get_family(cfg.model.name)
    tr.nets = {k: v.to(device) for k, v in tr.family.build(cfg, cfg.features.dim, num_domains).items()}
    tr.ema = {k: copy.deepcopy(tr.nets[k]).eval().requires_grad_(False) for k in tr.family.ema_nets}
    tcfg = cfg.train
    tr.optims = {
        k: torch.optim.AdamW(tr.nets[k].parameters(), lr=tr.family.lr(k, tcfg), betas=(tcfg.beta1, tcfg.beta2),
                             weight_decay=tcfg.weight_decay)
        for k in (*tr.family.d_nets, *tr.family.g_nets)
    }
    tr.scheds = {k: torch.optim.lr_scheduler.LambdaLR(o, lambda s: 1.0) for k, o in tr.optims.items()}
    tr.scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda" and tcfg.amp == "fp16")
    tr.step = 0
    tr.aux = {}
    if tr.family.uses_f0_net and cfg.loss.lambda_f0 > 0 and cfg.model.f0_net_steps > 0:
        from vc.models.f0net import F0Net

        # random weights: the pitch loss costs the same whatever the F0 net has learnt
        tr.aux["f0_net"] = F0Net(cfg.model, cfg.features.dim).to(device).eval().requires_grad_(False)
    return tr


def _rss_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


def measure(family: str, size: str, device_name: str, batch_size: int, steps: int, warmup: int) -> dict[str, Any]:
    """Time ``steps`` training steps of one family/size in this process; returns one result row."""
    import torch

    from vc.config import ExperimentConfig, from_dict
    from vc.models import count_parameters

    data, source = config_dict(family, size)
    cfg = from_dict(ExperimentConfig, data)
    if batch_size:
        cfg.train.batch_size = batch_size
    device = torch.device(device_name)
    k = len(cfg.data.domains) or DEFAULT_DOMAINS
    q, n, b = cfg.features.dim, cfg.model.crop_for(cfg.features.kind), cfg.train.batch_size
    torch.manual_seed(0)
    tr = bench_trainer(cfg, k, device)
    batch = synthetic_batch(b, q, n, k, device_name)
    params = count_parameters(tr.nets)["total"]
    cuda = device.type == "cuda"

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    rss_before = _rss_peak_mb()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    times, skipped = [], 0
    for i in range(warmup + steps):
        sync()
        t0 = time.perf_counter()
        logs = tr.train_step(batch)
        sync()
        if logs is None:
            skipped += 1
        tr.step += 1
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    row = dict(family=family, config=size, source=source, device=device_name, batch=b, q=q, n=n, domains=k,
               params_m=params / 1e6, sec_per_step=statistics.median(times), min_sec=min(times), skipped=skipped,
               threads=torch.get_num_threads(), amp=cfg.train.amp if cuda else "none")
    if cuda:
        row["peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    else:
        row["peak_mb"] = _rss_peak_mb()
        row["step_mb"] = _rss_peak_mb() - rss_before
    return row


def main() -> None:
    from vc.models import family_names

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--families", default="", help="comma-separated (default: every registered family)")
    p.add_argument("--configs", default="default,cpu", help="comma-separated subset of default,cpu")
    p.add_argument("--batch-size", type=int, default=0, help="override the config's batch size")
    p.add_argument("--steps", type=int, default=5, help="timed steps (the median is reported)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first (allocations, kernel choice)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--one", help=argparse.SUPPRESS)  # family:config, run in a child process
    args = p.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.one:
        family, size = args.one.split(":")
        print(json.dumps(measure(family, size, args.device, args.batch_size, args.steps, args.warmup)))
        return
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: torch sees no CUDA device")
    families = [f for f in args.families.split(",") if f] or family_names()
    sizes = [s for s in args.configs.split(",") if s]
    print(f"torch {torch.__version__}, device {args.device}, CPU threads {torch.get_num_threads()} "
          f"(OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}); median of {args.steps} steps after "
          f"{args.warmup} warm-up; synthetic batches", flush=True)
    rows = []
    for family in families:
        for size in sizes:
            cmd = [sys.executable, __file__, "--one", f"{family}:{size}", "--device", args.device,
                   "--batch-size", str(args.batch_size), "--steps", str(args.steps), "--warmup", str(args.warmup),
                   "--threads", str(args.threads)]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                last = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
                rows.append(dict(family=family, config=size, error=last))
                print(f"  {family:<12} {size:<8} failed: {last}", flush=True)
                continue
            row = json.loads(proc.stdout.strip().splitlines()[-1])
            rows.append(row)
            print(f"  {family:<12} {size:<8} {row['sec_per_step']:.3f} s/step  ({row['source']})", flush=True)

    mem = "peak GPU MiB" if args.device == "cuda" else "peak RSS MiB (rise during steps)"
    print(f"\n| family | config | Q×N | batch | K | params (M) | s/step | {mem} |\n|---|---|---|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['family']} | {r['config']} | | | | | failed: {r['error']} | |")
            continue
        peak = f"{r['peak_mb']:.0f}" + (f" (+{r['step_mb']:.0f})" if "step_mb" in r else "")
        note = f" ({r['skipped']} skipped)" if r["skipped"] else ""
        print(f"| {r['family']} | {r['config']} | {r['q']}×{r['n']} | {r['batch']} | {r['domains']} | "
              f"{r['params_m']:.2f} | {r['sec_per_step']:.3f}{note} | {peak} |")


if __name__ == "__main__":
    main()
