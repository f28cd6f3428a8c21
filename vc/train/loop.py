"""The family-agnostic GAN training loop behind ``vc-train``.

One step = one discriminator update and one generator update, each computed by the model family
(``vc.models.get_family``), then the EMA copies are updated. The loop owns what every family
shares: devices and mixed precision, the non-finite guard, distributed gradient averaging,
checkpoints, dev evaluation, TensorBoard and the progress bar.
"""

from __future__ import annotations

import contextlib
import copy
import math
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from vc.config import ExperimentConfig, save_config, to_dict
from vc.data.dataset import collate
from vc.errors import CheckpointError, ConfigError, TrainingError
from vc.features.config import check_fingerprint
from vc.train import checkpoint as ckpt
from vc.train.distributed import (
    DistInfo,
    all_true,
    average_gradients,
    barrier,
    broadcast_parameters,
    check_in_sync,
    cleanup,
    init_distributed,
)
from vc.train.sampler import StepBatchSampler


def resolve_device(name: str | None, info: DistInfo | None = None) -> torch.device:
    """``auto`` picks CUDA when present; a distributed rank gets its own GPU."""
    name = name or "auto"
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("--device cuda was asked for, but torch sees no CUDA device")
        return torch.device("cuda", info.local_rank if info else 0)
    return torch.device(name)


def autocast_context(device: torch.device, amp: str):
    """bf16 (default) or fp16 autocast on CUDA; full precision on CPU, where autocast gains little."""
    if device.type != "cuda" or amp == "none":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if amp == "bf16" else torch.float16
    return torch.autocast("cuda", dtype=dtype)


@torch.no_grad()
def eta_seconds(steps_done: int, steps_left: int, elapsed: float, max_minutes: float) -> float:
    """Seconds until training stops: at ``max_steps`` (``steps_left`` more at the rate so far) or at
    the ``max_minutes`` wall-clock limit (0: none), whichever comes first."""
    by_steps = steps_left * elapsed / steps_done if steps_done > 0 else float("inf")
    by_time = max(0.0, max_minutes * 60.0 - elapsed) if max_minutes else float("inf")
    return min(by_steps, by_time)


def format_eta(seconds: float) -> str:
    """``3725.0 -> '1:02:05'``, ``65 -> '01:05'``; unknown (inf) -> ``'?'``."""
    if seconds == float("inf"):
        return "?"
    minutes, sec = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{sec:02d}" if hours else f"{minutes:02d}:{sec:02d}"


def ema_update(ema: nn.Module, live: nn.Module, beta: float) -> None:
    for p_ema, p in zip(ema.parameters(), live.parameters()):
        p_ema.lerp_(p.detach(), 1.0 - beta)
    for b_ema, b in zip(ema.buffers(), live.buffers()):
        b_ema.copy_(b)


def rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}


def _finite(loss: torch.Tensor) -> bool:
    return bool(torch.isfinite(loss.detach()).all())


class Trainer:
    """Holds the nets, optimisers and bookkeeping of one run; ``run()`` trains to the end."""

    def __init__(self, cfg: ExperimentConfig, out_dir: Path, device: torch.device, info: DistInfo):
        from vc.data import Dump, FeatureDataset
        from vc.models import get_family

        self.cfg, self.out_dir, self.device, self.info = cfg, out_dir, device, info
        tcfg = cfg.train
        self.dump = Dump(cfg.data.dump_dir, cfg.features)
        self.domains = list(self.dump.domains)
        self.family = get_family(cfg.model.name)
        seed_everything(tcfg.seed)
        self.nets: dict[str, nn.Module] = {
            name: net.to(device) for name, net in self.family.build(cfg, cfg.features.dim, len(self.domains)).items()
        }
        self.family.init_from_stats(self.nets, self.dump.stats, self.domains, dump=self.dump)
        broadcast_parameters(self.nets.values(), info)
        self.ema = {name: copy.deepcopy(self.nets[name]).eval().requires_grad_(False) for name in self.family.ema_nets}
        self.optims = {
            name: torch.optim.AdamW(
                self.nets[name].parameters(),
                lr=self.family.lr(name, tcfg),
                betas=(tcfg.beta1, tcfg.beta2),
                weight_decay=tcfg.weight_decay,
            )
            for name in (*self.family.d_nets, *self.family.g_nets)
        }
        warmup = max(0, tcfg.warmup_steps)
        self.scheds = {
            name: torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warmup) if warmup else 1.0)
            for name, opt in self.optims.items()
        }
        use_fp16 = device.type == "cuda" and tcfg.amp == "fp16"
        self.scaler = torch.amp.GradScaler("cuda", enabled=use_fp16)
        self.step = 0
        self.bad_steps = 0
        self.skipped_total = 0
        self.best_dev = math.inf
        self.crop = cfg.model.crop_for(cfg.features.kind)
        self.train_set = FeatureDataset(self.dump, "train", self.crop, reference=True)
        dev_utts = self.dump.utterances("dev")
        self.dev_set = FeatureDataset(self.dump, "dev", self.crop, reference=True) if dev_utts else None
        self.aux: dict[str, nn.Module] = {}
        self.writer = None

    # ------------------------------------------------------------------ state
    def state(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "family": self.cfg.model.name,
            "nets": {k: v.state_dict() for k, v in self.nets.items()},
            "ema": {k: v.state_dict() for k, v in self.ema.items()},
            "optims": {k: v.state_dict() for k, v in self.optims.items()},
            "scheds": {k: v.state_dict() for k, v in self.scheds.items()},
            "scaler": self.scaler.state_dict(),
            "rng": rng_state(),
            "config": to_dict(self.cfg),
            "features": self.cfg.features.to_dict(),
            "fingerprint": self.cfg.features.fingerprint(),
            "domains": self.domains,
            "stats": self.dump.stats.to_dict(),
            "aux": {k: v.state_dict() for k, v in self.aux.items()},
            "bad_steps": self.bad_steps,
            "skipped_total": self.skipped_total,
            "best_dev": self.best_dev,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        where = state.get("path", "checkpoint")
        check_fingerprint(self.cfg.features, state["features"], where)
        if state["domains"] != self.domains:
            raise CheckpointError(
                f"{where}: trained on domains {state['domains']}, but the dump has {self.domains}"
            )
        if state.get("family") != self.cfg.model.name:
            raise CheckpointError(f"{where}: a {state.get('family')} checkpoint, config asks for {self.cfg.model.name}")
        for group, target in (("nets", self.nets), ("ema", self.ema), ("optims", self.optims), ("scheds", self.scheds)):
            for name, obj in target.items():
                if name not in state[group]:
                    raise CheckpointError(f"{where}: has no {group} entry for {name}")
                try:
                    obj.load_state_dict(state[group][name])
                except (RuntimeError, ValueError, KeyError) as exc:
                    first = str(exc).strip().splitlines()[0]
                    raise CheckpointError(
                        f"{where}: {group}/{name} does not fit the configured model ({first})"
                    ) from None
        self.scaler.load_state_dict(state["scaler"])
        for name, sd in state.get("aux", {}).items():
            if name in self.aux:
                self.aux[name].load_state_dict(sd)
        self.step = int(state["step"])
        self.bad_steps = int(state.get("bad_steps", 0))
        self.skipped_total = int(state.get("skipped_total", 0))
        self.best_dev = float(state.get("best_dev", math.inf))
        set_rng_state(state["rng"])

    def save(self, path: Path | None = None) -> Path:
        path = path or ckpt.step_path(self.out_dir, self.step)
        ckpt.save_checkpoint(path, self.state())
        if path.name.startswith("step_"):
            ckpt.prune_checkpoints(self.out_dir, self.cfg.train.keep_last)
        return path

    # ------------------------------------------------------------------ aux nets
    def prepare_aux(self) -> None:
        """Train (once, then cache in out_dir) the F0 net used by the pitch-consistency loss."""
        cfg = self.cfg
        if not (cfg.model.f0_net_steps > 0 and cfg.loss.lambda_f0 > 0 and getattr(self.family, "uses_f0_net", True)):
            return
        from vc.models.f0net import F0Net, train_f0_net

        path = self.out_dir / "f0_net.pt"
        if self.info.is_main and not path.exists():
            net = train_f0_net(self.train_set, cfg, steps=cfg.model.f0_net_steps, device=self.device)
            ckpt.save_checkpoint(path, {"f0_net": net.state_dict(), "fingerprint": cfg.features.fingerprint()})
        barrier(self.info)
        state = ckpt.load_checkpoint(path)
        net = F0Net(cfg.model, cfg.features.dim).to(self.device)
        net.load_state_dict(state["f0_net"])
        self.aux["f0_net"] = net.eval().requires_grad_(False)

    # ------------------------------------------------------------------ one step
    def _update(self, names, loss: torch.Tensor) -> bool:
        """Backward, average across ranks, clip, step. Returns False (and skips) on non-finite grads."""
        tcfg = self.cfg.train
        for name in names:
            self.optims[name].zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        modules = [self.nets[n] for n in names]
        average_gradients(modules, self.info)
        ok = True
        for name in names:
            self.scaler.unscale_(self.optims[name])
            params = list(self.nets[name].parameters())
            if tcfg.grad_clip > 0:
                norm = torch.nn.utils.clip_grad_norm_(params, tcfg.grad_clip)
            else:
                norm = torch.linalg.vector_norm(
                    torch.stack([p.grad.detach().norm() for p in params if p.grad is not None])
                )
            ok = ok and bool(torch.isfinite(norm))
        ok = all_true(ok, self.info, self.device)
        if not ok and not self.scaler.is_enabled():
            for name in names:
                self.optims[name].zero_grad(set_to_none=True)
            return False
        for name in names:
            self.scaler.step(self.optims[name])  # GradScaler skips the step itself on inf/nan
            self.scheds[name].step()
        self.scaler.update()
        return ok

    def train_step(self, batch: dict[str, Any]) -> dict[str, float] | None:
        """One D and one G update. Returns the logs, or None when the step was skipped."""
        cfg, fam = self.cfg, self.family
        for net in self.nets.values():
            net.train()
        with autocast_context(self.device, cfg.train.amp):
            d_loss, d_logs = fam.d_loss(self.nets, batch, self.step, cfg, self.aux)
        if not all_true(_finite(d_loss), self.info, self.device):
            return None
        if not self._update(fam.d_nets, d_loss):
            return None
        with autocast_context(self.device, cfg.train.amp):
            g_loss, g_logs = fam.g_loss(self.nets, batch, self.step, cfg, self.aux)
        if not all_true(_finite(g_loss), self.info, self.device):
            return None
        if not self._update(fam.g_nets, g_loss):
            return None
        # EMA warm-up: early on, average over the steps so far instead of keeping 99.9% of the random
        # initialisation, so that short runs and early checkpoints convert with trained weights.
        beta = min(cfg.train.ema_beta, (1.0 + self.step) / (10.0 + self.step))
        for name, ema in self.ema.items():
            ema_update(ema, self.nets[name], beta)
        return {"d": float(d_loss.detach()), "g": float(g_loss.detach()), **d_logs, **g_logs}

    # ------------------------------------------------------------------ evaluation
    @torch.no_grad()
    def dev_losses(self, max_batches: int = 8) -> dict[str, float]:
        """Mean dev losses of the EMA nets over a fixed set of dev crops (RNG state is preserved)."""
        if self.dev_set is None:
            return {}
        saved = torch.get_rng_state()
        torch.manual_seed(self.cfg.train.seed + 99991)  # the same crops at every evaluation
        nets = {**self.nets, **self.ema}
        totals: dict[str, float] = {}
        n = 0
        bs = self.cfg.train.batch_size
        count = min(len(self.dev_set), max_batches * bs)
        for start in range(0, count, bs):
            items = [self.dev_set[i] for i in range(start, min(start + bs, count))]
            batch = _to_device(collate(items), self.device)
            logs = self.family.dev_losses(nets, batch, self.cfg, self.aux)
            for k, v in logs.items():
                totals[k] = totals.get(k, 0.0) + float(v)
            n += 1
        torch.set_rng_state(saved)
        return {k: v / max(n, 1) for k, v in totals.items()}

    @torch.no_grad()
    def write_samples(self) -> None:
        """A dev (or train) utterance converted to another domain: feature images and audio."""
        from vc.train.samples import log_samples

        log_samples(self)

    # ------------------------------------------------------------------ the loop
    def run(self) -> Path:
        tcfg, info = self.cfg.train, self.info
        from tqdm.auto import tqdm

        if info.is_main:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(log_dir=str(self.out_dir / "tb"), purge_step=self.step or None)
        sampler = StepBatchSampler(
            len(self.train_set), tcfg.batch_size, tcfg.seed, self.step, info.rank, info.world_size
        )
        loader = torch.utils.data.DataLoader(
            self.train_set,
            batch_sampler=sampler,
            collate_fn=collate,
            num_workers=tcfg.num_workers,
            # Worker seeds come from this generator, not the global RNG, so resuming is exact.
            generator=torch.Generator().manual_seed(tcfg.seed + self.step),
            persistent_workers=tcfg.num_workers > 0,
        )
        # tqdm's own ETA counts towards max_steps; a run that max_minutes ends first shows ours instead
        # (see eta_seconds), in the postfix next to the losses.
        bar = tqdm(
            total=tcfg.max_steps, initial=self.step, desc="train", dynamic_ncols=True,
            disable=not info.is_main, file=sys.stderr, mininterval=1.0,
            bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}, {rate_fmt}{postfix}]",
        )
        t_start = time.monotonic()
        first_step = self.step
        last_saved = None
        stop_reason = "max_steps"
        batches = iter(loader)
        while self.step < tcfg.max_steps:
            batch = _to_device(next(batches), self.device)
            logs = self.train_step(batch)
            if logs is None:
                self.bad_steps += 1
                self.skipped_total += 1
                if self.writer:
                    self.writer.add_scalar("train/skipped_nonfinite", self.skipped_total, self.step)
                if self.bad_steps >= tcfg.max_bad_steps:
                    bar.close()
                    good = ckpt.newest_checkpoint(self.out_dir)
                    raise TrainingError(
                        f"training stopped at step {self.step}: {self.bad_steps} steps in a row had a "
                        f"non-finite loss or gradient; last good checkpoint: {good or 'none yet'} "
                        "(try a lower learning rate, train.amp=bf16, or a smaller loss.lambda_r1)"
                    )
                continue
            self.bad_steps = 0
            self.step += 1
            bar.update(1)
            if self.step % tcfg.log_every == 0 or self.step == 1:
                shown = {k: f"{logs[k]:.3f}" for k in ("d", "g", "cyc", "sty", "adv", "cls") if k in logs}
                eta = eta_seconds(self.step - first_step, tcfg.max_steps - self.step,
                                  time.monotonic() - t_start, tcfg.max_minutes)
                shown["eta"] = format_eta(eta)
                bar.set_postfix(shown, refresh=False)
                if self.writer:
                    for k, v in logs.items():
                        self.writer.add_scalar(f"train/{k}", v, self.step)
            if tcfg.eval_every and self.step % tcfg.eval_every == 0:
                self.evaluate()
            if info.is_main and tcfg.sample_every and self.step % tcfg.sample_every == 0:
                self.write_samples()
            if tcfg.save_every and self.step % tcfg.save_every == 0:
                if info.is_main:
                    last_saved = self.save()
            if tcfg.max_minutes and (time.monotonic() - t_start) / 60.0 >= tcfg.max_minutes:
                stop_reason = f"time limit ({tcfg.max_minutes:g} min)"
                break
        bar.close()
        if not check_in_sync(self.nets.values(), info, self.device):
            raise TrainingError("distributed ranks ended with different weights; gradient averaging failed")
        final = ckpt.step_path(self.out_dir, self.step)
        if info.is_main:
            if last_saved != final:
                self.save()
            if self.writer:
                self.writer.close()
            print(
                f"trained to step {self.step} ({stop_reason}); {self.skipped_total} non-finite steps skipped; "
                f"checkpoint: {final}",
                file=sys.stderr,
            )
        barrier(info)
        return final

    def evaluate(self) -> None:
        logs = self.dev_losses()
        if not logs or not self.info.is_main:
            return
        if self.writer:
            for k, v in logs.items():
                self.writer.add_scalar(f"dev/{k}", v, self.step)
        total = logs.get("total")
        if total is not None and total < self.best_dev:
            self.best_dev = total
            self.save(ckpt.checkpoint_dir(self.out_dir) / "best.pt")


def train(cfg: ExperimentConfig, out_dir: str | Path | None = None, resume: bool = False,
          device: str | None = None) -> Path:
    """Train the configured model family; returns the path of the final checkpoint.

    ``out_dir`` overrides ``train.out_dir``; with ``resume`` the newest checkpoint there is loaded
    (its config must agree on features, domains and model family) and training continues.
    """
    if out_dir is not None:
        cfg.train.out_dir = str(out_dir)
    out = Path(cfg.train.out_dir)
    want = device or cfg.train.device
    info = init_distributed("cuda" if want == "cuda" or (want == "auto" and torch.cuda.is_available()) else "cpu")
    try:
        dev = resolve_device(want, info)
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        newest = ckpt.newest_checkpoint(out)
        if not resume and newest is not None:
            raise ConfigError(
                f"{out} already holds checkpoints (newest {newest.name}); pass --resume to continue, "
                "or choose another --out"
            )
        if resume and newest is None:
            raise CheckpointError(f"{out}: --resume given but there is no checkpoint to resume from")
        if info.is_main:
            out.mkdir(parents=True, exist_ok=True)
            save_config(cfg, out / "config.yaml")
        trainer = Trainer(cfg, out, dev, info)
        trainer.prepare_aux()
        if resume:
            trainer.load_state(ckpt.load_checkpoint(newest, map_location=dev))
            if info.is_main:
                print(f"resuming from {newest} at step {trainer.step}", file=sys.stderr)
        return trainer.run()
    finally:
        cleanup(info)
