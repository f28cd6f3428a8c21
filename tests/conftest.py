"""Shared fixtures: tiny feature configs, generated corpora and a prepared dump.

Everything is CI-sized (16 kHz, ~1 s clips, dio F0) and session-scoped where it saves time; use
``tmp_path`` copies when a test needs to modify a corpus or a dump. Test modules can import the
audio generators with ``from synth import make_corpus, speech_like`` (this folder is on sys.path).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# Tiny nets gain nothing from threads, and OpenMP's spinning threads slow a busy 2-core machine down
# many times over; one thread keeps the suite fast and its timings steady. Subprocesses inherit it.
os.environ.setdefault("OMP_NUM_THREADS", "1")
# The console scripts (vc-prep, vc-train, ...) live beside this interpreter; tests run them by name,
# so put that folder first on PATH even when pytest was started without activating the venv.
os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")

sys.path.insert(0, str(Path(__file__).parent))

import torch  # noqa: E402
from synth import DEFAULT_DOMAINS, make_corpus  # noqa: E402

from vc.config import ExperimentConfig, from_dict, to_dict  # noqa: E402
from vc.features.config import FeatureConfig  # noqa: E402

torch.set_num_threads(1)

SHARED_VCTK_MINI = Path(__file__).resolve().parents[2] / "shared" / "data" / "vctk_mini"

TINY_FEATURES = dict(
    sample_rate=16000,
    n_fft=1024,
    hop_size=200,
    win_length=800,
    num_mels=80,
    fmin=80.0,
    fmax=7600.0,
    f0_method="dio",
)
"""Small, fast mel settings (80 frames per second)."""


@pytest.fixture(scope="session")
def feature_cfg() -> FeatureConfig:
    """Tiny log-mel FeatureConfig: 16 kHz, FFT 1024, hop 200, window 800, 80 mels, dio F0."""
    return FeatureConfig(**TINY_FEATURES)


@pytest.fixture(scope="session")
def world_cfg() -> FeatureConfig:
    """Tiny WORLD FeatureConfig: 16 kHz, 5 ms frames, 36 coded sp dims, dio F0."""
    return FeatureConfig(kind="world", sample_rate=16000, f0_method="dio")


def experiment_config(root: str | Path, dump_dir: str | Path, features: dict | None = None, **data) -> ExperimentConfig:
    """An ExperimentConfig for a tiny corpus: tiny features, inline extraction, 1 dev + 1 test per domain.

    ``data`` overrides ``data:`` keys (e.g. ``format="list"``); ``features`` overrides feature keys.
    """
    d = dict(format="generic", root=str(root), dump_dir=str(dump_dir), num_workers=1)
    d.update(data)
    return from_dict(ExperimentConfig, {"features": {**TINY_FEATURES, **(features or {})}, "data": d})


@pytest.fixture(scope="session")
def make_config():
    """The :func:`experiment_config` factory, as a fixture."""
    return experiment_config


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    """Generic tree ``<root>/{low,mid,high}/<domain>_00N.wav`` (+ .txt): 3 domains x 6 clips x ~1 s, 16 kHz.

    The domains differ in F0 (100/160/230 Hz), spectral tilt (-3/0/+3 dB per octave) and formant
    scale (see ``synth.DEFAULT_DOMAINS``). Read-only: copy it before changing anything.
    """
    return make_corpus(tmp_path_factory.mktemp("tiny_corpus"), "generic", DEFAULT_DOMAINS, n_per_domain=6)


@pytest.fixture(scope="session")
def prepared_dump(tmp_path_factory, tiny_corpus) -> tuple[ExperimentConfig, Path]:
    """``(cfg, dump_dir)``: :func:`vc.data.prepare` run on ``tiny_corpus`` with the tiny mel features.

    Splits: 4 train, 1 dev, 1 test utterance per domain. Read-only; ``cfg`` is a fresh copy per test
    session, so copy it (``copy.deepcopy``) before editing.
    """
    from vc.data import prepare

    dump_dir = tmp_path_factory.mktemp("prepared_dump") / "dump"
    cfg = experiment_config(tiny_corpus, dump_dir)
    prepare(cfg, progress=False)
    return from_dict(ExperimentConfig, to_dict(cfg)), dump_dir


@pytest.fixture(scope="session")
def world_dump(tmp_path_factory, tiny_corpus) -> ExperimentConfig:
    """``tiny_corpus`` prepared with WORLD features (36 coded sp dims, 5 ms frames, dio F0)."""
    from vc.data import prepare

    cfg = experiment_config(tiny_corpus, tmp_path_factory.mktemp("world_dump") / "dump", features={"kind": "world"})
    prepare(cfg, progress=False)
    return cfg


@pytest.fixture(scope="session")
def world_ckpt(world_dump, tmp_path_factory):
    """A tiny StarGAN v2 on WORLD features, 2 steps: for what happens after the model (gate, synthesis)."""
    from vc.train import train

    exp = tiny_experiment(world_dump, tmp_path_factory.mktemp("world_ckpt") / "exp", model=dict(f0_net_steps=0),
                          train=dict(max_steps=2, eval_every=0, save_every=0))
    return train(exp, device="cpu")


@pytest.fixture(scope="session")
def vctk_mini() -> Path:
    """The shared 40-utterance VCTK excerpt (4 speakers x 10, 16 kHz); skips when absent."""
    if not (SHARED_VCTK_MINI / "p225").is_dir():
        pytest.skip(f"{SHARED_VCTK_MINI} not available")
    return SHARED_VCTK_MINI


# ---------------------------------------------------------------------------------------------------
# Tiny models: small enough that a training step takes a fraction of a second on 2 cores.

TINY_MODEL = dict(
    dim_in=16, max_conv_dim=32, n_down=2, n_bottleneck=1, style_dim=16, latent_dim=8,
    mapping_hidden=32, mapping_layers=2, style_dim_in=16, disc_dim=16, disc_max_dim=32,
    disc_n_down=2, crop_frames=48, f0_net_dim=16, f0_net_steps=20,
)
TINY_TRAIN = dict(
    batch_size=4, max_steps=30, log_every=5, eval_every=10, save_every=10, sample_every=0, keep_last=2,
)


def tiny_experiment(base: ExperimentConfig, out_dir: str | Path, model: dict | None = None,
                    train: dict | None = None, loss: dict | None = None) -> ExperimentConfig:
    """A copy of ``base`` (features + data) with the tiny model and training settings."""
    data = to_dict(base)
    data["model"] = {**data["model"], **TINY_MODEL, **(model or {})}
    data["train"] = {**data["train"], **TINY_TRAIN, "out_dir": str(out_dir), **(train or {})}
    data["loss"] = {**data["loss"], "adv_cls_start_step": 10, **(loss or {})}
    return from_dict(ExperimentConfig, data)


@pytest.fixture(scope="session")
def trained_ckpt(tmp_path_factory, prepared_dump) -> Path:
    """A tiny StarGAN v2 checkpoint (mel features) trained for 20 steps on ``prepared_dump``."""
    from vc.train import train

    cfg, _ = prepared_dump
    out = tmp_path_factory.mktemp("trained") / "exp"
    exp = tiny_experiment(cfg, out, train=dict(max_steps=20, eval_every=0, save_every=0))
    exp.vocoder.griffinlim_iters = 4  # conversion tests check plumbing, not audio quality
    return train(exp, device="cpu")
