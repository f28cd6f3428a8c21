"""Training: the real console script, resume equivalence, the non-finite guard, distributed gloo."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import tiny_experiment

from vc.config import save_config
from vc.errors import ConfigError, TrainingError
from vc.train import checkpoint as ckpt
from vc.train import train

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _run(args, cwd, check=True):
    proc = subprocess.run(args, cwd=cwd, env=ENV, capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def test_vc_train_console_script(prepared_dump, tmp_path):
    cfg, _ = prepared_dump
    out = tmp_path / "exp"
    conf = tmp_path / "conf.yaml"
    save_config(tiny_experiment(cfg, "ignored"), conf)
    _run(["vc-train", str(conf), "--out", str(out), "--device", "cpu", "--set", "train.max_steps=30"], tmp_path)

    steps = [p.name for p in ckpt.list_checkpoints(out)]
    assert steps == ["step_00000020.pt", "step_00000030.pt"]  # keep_last=2 pruned step 10
    assert (out / "checkpoints" / "best.pt").is_file()
    assert (out / "config.yaml").read_text().count("max_steps: 30") == 1  # resolved config, with --set
    assert list((out / "tb").glob("events.out.tfevents.*")), "no TensorBoard log"

    state = ckpt.load_checkpoint(out / "checkpoints" / "step_00000030.pt")
    assert state["step"] == 30
    assert state["domains"] == ["high", "low", "mid"]
    assert state["fingerprint"] == cfg.features.fingerprint()
    for key in ("nets", "ema", "optims", "scheds", "rng", "config", "stats", "vc_version"):
        assert key in state
    assert set(state["ema"]) == {"generator", "mapping", "style_encoder"}
    # EMA copies trail the live nets: after 30 steps with beta 0.999 they are close but not equal.
    live, ema = state["nets"]["generator"]["stem.weight"], state["ema"]["generator"]["stem.weight"]
    assert not torch.equal(live, ema)

    # A second run into the same folder without --resume is refused in one line, exit 2.
    proc = _run(["vc-train", str(conf), "--out", str(out), "--device", "cpu"], tmp_path, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "--resume" in proc.stderr


def _weights(path: Path) -> dict[str, torch.Tensor]:
    state = ckpt.load_checkpoint(path)
    flat = {}
    for group in ("nets", "ema", "aux"):
        for name, sd in state[group].items():
            for k, v in sd.items():
                flat[f"{group}/{name}/{k}"] = v
    return flat


def test_resume_gives_the_same_weights(prepared_dump, tmp_path):
    cfg, _ = prepared_dump
    settings = dict(max_steps=6, save_every=3, eval_every=3, seed=7)
    straight = train(tiny_experiment(cfg, tmp_path / "a", train=settings, model=dict(f0_net_steps=5)), device="cpu")

    b = tmp_path / "b"
    train(tiny_experiment(cfg, b, train={**settings, "max_steps": 3}, model=dict(f0_net_steps=5)), device="cpu")
    resumed = train(tiny_experiment(cfg, b, train=settings, model=dict(f0_net_steps=5)), resume=True, device="cpu")

    wa, wb = _weights(straight), _weights(resumed)
    assert wa.keys() == wb.keys()
    different = [k for k in wa if not torch.equal(wa[k], wb[k])]
    assert not different, f"resumed run differs in {different[:5]}"


def test_resume_without_checkpoint_and_rerun_without_resume(prepared_dump, tmp_path):
    cfg, _ = prepared_dump
    with pytest.raises(Exception, match="no checkpoint to resume"):
        train(tiny_experiment(cfg, tmp_path / "x"), resume=True, device="cpu")


def test_nonfinite_guard_stops_and_keeps_the_last_good_checkpoint(prepared_dump, tmp_path, monkeypatch):
    from vc.models import get_family

    cfg, _ = prepared_dump
    family = type(get_family("stargan_v2"))
    real_g_loss = family.g_loss

    def poisoned(self, nets, batch, step, cfg, aux):
        loss, logs = real_g_loss(self, nets, batch, step, cfg, aux)
        return (loss * float("nan"), logs) if step >= 4 else (loss, logs)

    monkeypatch.setattr(family, "g_loss", poisoned)
    out = tmp_path / "nan"
    exp = tiny_experiment(cfg, out, train=dict(max_steps=20, save_every=2, eval_every=0, max_bad_steps=3))
    with pytest.raises(TrainingError, match=r"3 steps in a row.*step_00000004\.pt"):
        train(exp, device="cpu")
    good = ckpt.load_checkpoint(out / "checkpoints" / "step_00000004.pt")
    assert good["step"] == 4
    assert all(torch.isfinite(v).all() for sd in good["nets"].values() for v in sd.values() if v.is_floating_point())


def test_unknown_family_is_a_config_error(prepared_dump, tmp_path):
    cfg, _ = prepared_dump
    with pytest.raises(ConfigError, match="stargan_v2"):
        train(tiny_experiment(cfg, tmp_path / "u", model=dict(name="nope")), device="cpu")


@pytest.mark.slow
def test_distributed_two_gloo_processes(prepared_dump, tmp_path):
    """torchrun with 2 CPU processes: each rank trains on its own slice, gradients are averaged, and
    the loop verifies at the end that both ranks hold identical weights."""
    cfg, _ = prepared_dump
    conf = tmp_path / "conf.yaml"
    out = tmp_path / "ddp"
    save_config(tiny_experiment(cfg, out, train=dict(max_steps=4, save_every=0, eval_every=0, batch_size=2),
                                model=dict(f0_net_steps=0)), conf)
    proc = _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                 "-m", "vc.cli.train", str(conf), "--device", "cpu"], tmp_path)
    assert ckpt.newest_checkpoint(out).name == "step_00000004.pt", proc.stderr


def test_eta_is_that_of_whichever_limit_comes_first():
    from vc.train.loop import eta_seconds, format_eta

    # 100 steps in 50 s (2 steps/s), 9900 to go: 4950 s by steps, but a 5-minute limit ends it in 250 s.
    assert eta_seconds(100, 9900, 50.0, 5.0) == pytest.approx(250.0)
    # A generous time limit: the step limit comes first.
    assert eta_seconds(100, 100, 50.0, 60.0) == pytest.approx(50.0)
    # No time limit; past the time limit; no steps yet.
    assert eta_seconds(10, 10, 5.0, 0.0) == pytest.approx(5.0)
    assert eta_seconds(10, 10, 400.0, 5.0) == 0.0
    assert eta_seconds(0, 10, 1.0, 0.0) == float("inf")
    assert format_eta(3725.0) == "1:02:05" and format_eta(65) == "01:05" and format_eta(float("inf")) == "?"
