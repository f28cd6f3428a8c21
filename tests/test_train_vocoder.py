"""vc-train-vocoder: export, generated YAML, a tiny HiFi-GAN trained by parallel-wavegan, and loading it."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from vc.config import from_dict, to_dict
from vc.errors import ConfigError
from vc.vocoders import get_vocoder
from vc.vocoders.train import export_dump, pwg_config

SCRIPT = Path(sys.executable).parent / "vc-train-vocoder"

# A HiFi-GAN with a few channels and small discriminators: 20 steps take a few seconds on one core.
TINY_VOCODER = {
    "train_steps": 20,
    "batch_size": 2,
    "batch_max_steps": 2400,  # 12 frames of 200 samples
    "save_every": 20,
    "eval_every": 0,  # evaluate on dev once, at the end
    "log_every": 10,
    "pwg_overrides": {
        "generator_params": {"channels": 16},
        "discriminator_params": {
            "scales": 1,
            "periods": [2, 3],
            "scale_discriminator_params": {"channels": 8, "max_downsample_channels": 32, "max_groups": 4},
            "period_discriminator_params": {"channels": 4, "max_downsample_channels": 16},
        },
        "num_save_intermediate_results": 1,
    },
}


def _config(prepared_dump, tmp_path, **vocoder):
    cfg, _ = prepared_dump
    data = to_dict(cfg)
    data["train"]["out_dir"] = str(tmp_path / "exp")
    data["vocoder"] = {**copy.deepcopy(TINY_VOCODER), **vocoder}
    return data


def _run(*args, cwd):
    # One intra-op thread: on a loaded 2-core machine OpenMP threads spin against each other.
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([str(SCRIPT), *map(str, args)], cwd=cwd, capture_output=True, text=True, env=env)


def test_export_matches_the_dump(prepared_dump, tmp_path):
    from vc.data import Dump

    data = _config(prepared_dump, tmp_path)
    cfg = from_dict(type(prepared_dump[0]), data)
    frames = export_dump(cfg, tmp_path / "voc", progress=False)
    dump = Dump(cfg.data.dump_dir, cfg.features)
    hop = cfg.features.hop_size
    for split in ("train", "dev"):
        utts = dump.utterances(split)
        assert sorted(p.stem for p in (tmp_path / "voc" / "dump" / split / "norm").glob("*.h5")) == sorted(
            u.utt_id for u in utts
        )
        assert len(frames[split]) == len(utts)
    utt = dump.utterances("train")[0]
    with h5py.File(tmp_path / "voc" / "dump" / "train" / "norm" / f"{utt.utt_id}.h5", "r") as h5:
        wave, feats = h5["wave"][()], h5["feats"][()]
    ref = dump.load(utt.utt_id).feats
    assert wave.dtype == np.float32 and len(wave) == len(ref) * hop
    np.testing.assert_allclose(feats, dump.stats.normalize(ref), atol=1e-5)
    # The audio is the one the features were extracted from: its log-mel is the cached one (except the
    # last frames, whose windows reach into the edge padding).
    from vc.features.mel import logmel

    inner = len(ref) - (cfg.features.n_fft // 2 // hop + 1)
    np.testing.assert_allclose(logmel(wave, cfg.features)[:inner], ref[:inner], atol=1e-3)
    with h5py.File(tmp_path / "voc" / "stats.h5", "r") as h5:
        np.testing.assert_allclose(h5["mean"][()], dump.stats.mean)


def test_generated_yaml_follows_the_features(prepared_dump, tmp_path):
    cfg = from_dict(type(prepared_dump[0]), _config(prepared_dump, tmp_path))
    config = pwg_config(cfg)
    f = cfg.features
    assert (config["sampling_rate"], config["fft_size"], config["hop_size"], config["win_length"]) == (
        f.sample_rate, f.n_fft, f.hop_size, f.win_length,
    )  # fmt: skip
    assert (config["num_mels"], config["fmin"], config["fmax"]) == (f.num_mels, f.fmin, f.fmax)
    assert config["log_base"] == f.log_base == 10.0
    assert int(np.prod(config["generator_params"]["upsample_scales"])) == f.hop_size
    assert config["generator_params"]["upsample_kernel_sizes"] == [
        2 * s for s in config["generator_params"]["upsample_scales"]
    ]
    assert config["vc_features"]["fingerprint"] == f.fingerprint()
    assert config["generator_params"]["channels"] == 16  # the override is merged in


@pytest.mark.parametrize(
    "vocoder, message",
    [
        (dict(batch_max_steps=2500), r"batch_max_steps 2500 is not a positive multiple of the hop.*2400 or 2600"),
        (dict(pwg_overrides={"hop_size": 256}), r"pwg_overrides cannot set hop_size \(from features:\)"),
        (dict(pwg_overrides={"batch_size": 4}), r"batch_size \(set vocoder\.batch_size\)"),
        (dict(finetune_steps=0), "finetune_steps must be at least 1"),
        (dict(pwg_overrides={"generator_params": {"upsample_scales": [5, 5, 4]}}), "upsamples by 100"),
    ],
)
def test_bad_vocoder_settings_are_refused(prepared_dump, tmp_path, vocoder, message):
    cfg = from_dict(type(prepared_dump[0]), _config(prepared_dump, tmp_path, **vocoder))
    with pytest.raises(ConfigError, match=message):
        pwg_config(cfg)


def test_world_features_are_refused(prepared_dump, tmp_path):
    data = _config(prepared_dump, tmp_path)
    data["features"]["kind"] = "world"
    with pytest.raises(ConfigError, match="take log-mel features.*features.kind: world"):
        pwg_config(from_dict(type(prepared_dump[0]), data))


@pytest.mark.slow
def test_train_tiny_hifigan_through_the_console_script(prepared_dump, tmp_path):
    cfg, dump_dir = prepared_dump
    conf = tmp_path / "conf.yaml"
    conf.write_text(yaml.safe_dump(_config(prepared_dump, tmp_path)))
    out = tmp_path / "voc"

    run = _run(conf, "--out", out, cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "[train]" in run.stdout and "vocoder ready" in run.stdout  # the trainer's progress is shown
    assert (out / "checkpoint-20steps.pkl").is_file() and (out / "stats.h5").is_file()
    written = yaml.load((out / "config.yml").read_text(), Loader=yaml.FullLoader)
    # parallel-wavegan rewrote the file (adding its version) and kept our feature record.
    assert written["version"] and written["vc_features"]["fingerprint"] == cfg.features.fingerprint()
    name = json.loads((tmp_path / "exp" / "default_vocoder.json").read_text())["name"]
    assert name == f"pwg:{out.absolute()}"

    # What conversion will do: normalised features in, audio of N hops out.
    from vc.data import Dump

    dump = Dump(dump_dir, cfg.features)
    utt = dump.utterances("dev")[0]
    feats = dump.stats.normalize(dump.load(utt.utt_id).feats)
    wav = get_vocoder(name, cfg.features, dump.stats)(feats)
    assert wav.dtype == np.float32 and len(wav) == feats.shape[0] * cfg.features.hop_size
    assert np.isfinite(wav).all() and np.abs(wav).max() > 0

    again = _run(conf, "--out", out, cwd=tmp_path)
    assert again.returncode == 2 and "pass --resume" in again.stderr
    more = _run(conf, "--out", out, "--resume", "--set", "vocoder.train_steps=22", cwd=tmp_path)
    assert more.returncode == 0, more.stdout[-3000:] + more.stderr[-3000:]
    assert "Successfully resumed" in more.stdout and (out / "checkpoint-22steps.pkl").is_file()


@pytest.mark.slow
def test_finetune_on_the_generators_outputs(prepared_dump, trained_ckpt, tmp_path):
    """Base vocoder, then fine-tuning on the tiny conversion model's teacher-forced reconstructions."""
    from vc.data import Dump

    cfg, dump_dir = prepared_dump
    exp_dir = tmp_path / "exp"
    shutil.copytree(Path(trained_ckpt).parent.parent, exp_dir)  # a trained model in train.out_dir
    data = _config(prepared_dump, tmp_path, train_steps=4, save_every=4, finetune_on_generator=True,
                   finetune_steps=3)
    conf = tmp_path / "conf.yaml"
    conf.write_text(yaml.safe_dump(data))
    out = tmp_path / "voc"
    run = _run(conf, "--out", out, cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    ft = out / "finetune"
    assert (out / "checkpoint-4steps.pkl").is_file() and (ft / "checkpoint-3steps.pkl").is_file()
    assert "Successfully load parameters" in (ft / "train.log").read_text()  # started from the base weights
    assert json.loads((exp_dir / "default_vocoder.json").read_text())["name"] == f"pwg:{ft.absolute()}"

    dump = Dump(dump_dir, cfg.features)
    utt = dump.utterances("train")[0]
    with h5py.File(ft / "dump" / "train" / "norm" / f"{utt.utt_id}.h5", "r") as h5:
        generated, wave = h5["feats"][()], h5["wave"][()]
    real = dump.stats.normalize(dump.load(utt.utt_id).feats)
    assert generated.shape == real.shape and len(wave) == real.shape[0] * cfg.features.hop_size
    assert not np.allclose(generated, real)  # the generator's features, not the real ones

    # Without a trained model in train.out_dir it says what to do, in one line.
    data["train"]["out_dir"] = str(tmp_path / "empty")
    conf.write_text(yaml.safe_dump(data))
    bad = _run(conf, "--out", tmp_path / "voc2", cwd=tmp_path)
    assert bad.returncode == 2 and "run vc-train first" in bad.stderr
