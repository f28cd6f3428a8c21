"""The vocoder registry: world, griffinlim and pwg:<dir> on generated speech-like audio."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import yaml
from synth import speech_like

from vc.errors import CheckpointError, ConfigError, FingerprintError
from vc.features import FeatureConfig, extract
from vc.features.mel import logmel
from vc.features.stats import Stats
from vc.vocoders import get_vocoder
from vc.vocoders.pwg_compat import import_pwg
from vc.vocoders.templates import deep_merge, feature_section, model_section, upsample_scales

SR = 16000
MEL = FeatureConfig(sample_rate=SR, n_fft=1024, hop_size=200, win_length=800, fmin=80, fmax=7600, f0_method="dio")
WORLD = FeatureConfig(kind="world", sample_rate=SR, frame_period=5.0, num_sp=24, f0_method="dio")

# A few channels per layer: enough to run every generator type, fast on 2 cores.
TINY = {
    "hifigan": {"generator_params": {"channels": 16}},
    "parallel_wavegan": {
        "generator_params": {"layers": 3, "stacks": 1, "residual_channels": 8, "gate_channels": 16, "skip_channels": 8}
    },
    "melgan": {"generator_params": {"stacks": 1}},  # MelGAN needs channels >= hop: keep the template's
    "multiband_melgan": {"generator_params": {"channels": 64, "stacks": 1}},
}


def _stats(feats: np.ndarray) -> Stats:
    """Statistics of one utterance's features (enough to exercise (de)normalisation)."""
    return Stats(feats.mean(0), np.maximum(feats.std(0), 1e-3), {"a": 5.0}, {"a": 0.2}, ["a"])


@pytest.fixture(scope="module")
def wav() -> np.ndarray:
    return speech_like(seconds=1.2, sr=SR, f0=140.0, seed=3)


@pytest.fixture(scope="module")
def mel(wav):
    feats = extract(wav, MEL).feats
    return feats, _stats(feats)


def make_pwg_dir(path, features: FeatureConfig, generator: str = "hifigan", stats: Stats | None = None):
    """A parallel-wavegan vocoder directory with a randomly initialised tiny generator."""
    config = {
        **feature_section(features),
        **deep_merge(model_section(generator, "cpu", features, 100), TINY[generator]),
    }
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.yml").write_text(yaml.safe_dump(config))
    models = import_pwg("models")
    torch.manual_seed(0)
    net = getattr(models, config["generator_type"])(**config["generator_params"])
    torch.save({"model": {"generator": net.state_dict()}, "steps": 10}, path / "checkpoint-10steps.pkl")
    if stats is not None:
        import h5py

        with h5py.File(path / "stats.h5", "w") as h5:
            h5["mean"], h5["scale"] = stats.mean, stats.scale
    return path


# --- world ---------------------------------------------------------------------------------------
def test_world_resynthesis_keeps_length_and_follows_the_given_f0(wav):
    f = extract(wav, WORLD)
    stats = _stats(f.feats)
    voc = get_vocoder("world", WORLD, stats)
    n = f.feats.shape[0]
    out = voc(stats.normalize(f.feats), f0=f.f0, ap=f.ap)
    assert out.dtype == np.float32 and abs(len(out) - n * WORLD.hop) <= WORLD.hop
    again = extract(out, WORLD).f0[:n]  # N * hop samples give one frame more
    voiced = (f.f0 > 0) & (again > 0)
    assert voiced.sum() > 0.5 * (f.f0 > 0).sum()
    assert np.median(np.abs(again[voiced] - f.f0[voiced])) < 3.0
    # The vocoder uses the F0 it is given (the converter's target-register F0), not the source's.
    raised = voc(stats.normalize(f.feats), f0=f.f0 * 1.5, ap=f.ap)
    ratio = extract(raised, WORLD).f0[:n][voiced] / f.f0[voiced]
    assert abs(np.median(ratio) - 1.5) < 0.05


def test_world_is_refused_for_mel_features(mel):
    with pytest.raises(ConfigError, match="world vocoder needs WORLD features"):
        get_vocoder("world", MEL, mel[1])


def test_griffinlim_is_refused_for_world_features(wav):
    f = extract(wav, WORLD)
    with pytest.raises(ConfigError, match="griffinlim"):
        get_vocoder("griffinlim", WORLD, _stats(f.feats))


# --- griffinlim ----------------------------------------------------------------------------------
def test_griffinlim_length_and_log_mel_close_to_input(mel, wav):
    feats, stats = mel
    out = get_vocoder("griffinlim", MEL, stats, griffinlim_iters=16)(stats.normalize(feats))
    n = feats.shape[0]
    assert out.dtype == np.float32 and len(out) == n * MEL.hop
    again = logmel(out, MEL)[:n]
    loud = feats.max(axis=1) > feats.max() - 3.0  # frames within 30 dB of the loudest
    err = np.abs(again[loud] - feats[loud]).mean()
    assert err < 0.2, f"log10-mel error {err:.3f}"
    # The tolerance separates a resynthesis from a different utterance.
    other = extract(speech_like(seconds=1.2, sr=SR, f0=220.0, seed=9), MEL).feats
    m = min(len(other), n)
    assert np.abs(other[:m] - feats[:m])[loud[:m]].mean() > 2 * err


def test_unknown_vocoder_name_lists_the_valid_ones(mel):
    with pytest.raises(ConfigError, match=r"unknown vocoder 'wavenet'.*world, griffinlim, pwg:<dir>"):
        get_vocoder("wavenet", MEL, mel[1])


# --- pwg:<dir> -----------------------------------------------------------------------------------
@pytest.mark.parametrize("generator", ["hifigan", "parallel_wavegan", "melgan", "multiband_melgan"])
def test_pwg_dir_synthesises_the_right_length(tmp_path, mel, generator):
    feats, stats = mel
    directory = make_pwg_dir(tmp_path / generator, MEL, generator, stats=stats)
    voc = get_vocoder(f"pwg:{directory}", MEL, stats)
    out = voc(torch.from_numpy(stats.normalize(feats)))
    assert out.dtype == np.float32 and len(out) == feats.shape[0] * MEL.hop and np.isfinite(out).all()


def test_pwg_renormalises_with_its_own_stats(tmp_path, mel):
    feats, stats = mel
    directory = make_pwg_dir(tmp_path / "v", MEL, "hifigan", stats=stats)
    same = get_vocoder(f"pwg:{directory}", MEL, stats)(stats.normalize(feats))
    # Our features normalised with other statistics must reach the generator as the same input.
    other = Stats(stats.mean + 1.0, stats.scale * 2.0, {}, {}, [])
    out = get_vocoder(f"pwg:{directory}", MEL, other)(other.normalize(feats))
    np.testing.assert_allclose(out, same, atol=1e-4)


@pytest.mark.parametrize(
    "change, field",
    [(dict(hop_size=160), "hop_size"), (dict(sample_rate=22050, fmax=7600), "sampling_rate"),
     (dict(num_mels=64), "num_mels"), (dict(fmin=0.0), "fmin")],
)  # fmt: skip
def test_pwg_dir_with_other_features_is_refused_by_name(tmp_path, mel, change, field):
    theirs = dataclasses.replace(MEL, **change)
    directory = make_pwg_dir(tmp_path / "v", theirs, stats=mel[1])
    with pytest.raises(FingerprintError, match=rf"{field}: \S+ \(ours\) vs \S+ \(vocoder\)") as err:
        get_vocoder(f"pwg:{directory}", MEL, mel[1])
    assert str(directory) in str(err.value)


def test_pwg_dir_refused_for_world_features(tmp_path, mel):
    directory = make_pwg_dir(tmp_path / "v", MEL, stats=mel[1])
    with pytest.raises(FingerprintError, match="kind: world"):
        get_vocoder(f"pwg:{directory}", WORLD, mel[1])


def test_pwg_dir_missing_pieces_are_named(tmp_path, mel):
    stats = mel[1]
    directory = make_pwg_dir(tmp_path / "v", MEL)  # no stats.h5
    with pytest.raises(CheckpointError, match=r"stats\.h5 not found"):
        get_vocoder(f"pwg:{directory}", MEL, stats)
    make_pwg_dir(directory, MEL, stats=stats)
    (directory / "checkpoint-10steps.pkl").unlink()
    with pytest.raises(CheckpointError, match=r"no checkpoint-\*\.pkl"):
        get_vocoder(f"pwg:{directory}", MEL, stats)
    (directory / "config.yml").unlink()
    with pytest.raises(CheckpointError, match=r"config\.yml not found"):
        get_vocoder(f"pwg:{directory}", MEL, stats)
    with pytest.raises(CheckpointError, match="vocoder directory not found"):
        get_vocoder(f"pwg:{tmp_path / 'nowhere'}", MEL, stats)


def test_pwg_uses_the_newest_checkpoint(tmp_path, mel):
    from vc.vocoders.pwg import find_checkpoint

    directory = make_pwg_dir(tmp_path / "v", MEL, stats=mel[1])
    for steps in (9, 100, 20):
        (directory / f"checkpoint-{steps}steps.pkl").write_bytes(b"")
    assert find_checkpoint(directory).name == "checkpoint-100steps.pkl"


@pytest.mark.parametrize(
    "hop, scales", [(300, [5, 5, 4, 3]), (256, [8, 8, 2, 2]), (200, [5, 5, 4, 2]), (275, [11, 5, 5])]
)
def test_upsample_scales_multiply_to_the_hop(hop, scales):
    assert upsample_scales(hop) == scales
    assert int(np.prod(upsample_scales(hop, 3))) == hop


def test_default_vocoder_name(tmp_path):
    from vc.config import ExperimentConfig
    from vc.vocoders import default_vocoder_name, write_default_vocoder

    cfg = ExperimentConfig()
    cfg.train.out_dir = str(tmp_path)
    assert default_vocoder_name(cfg) == "griffinlim"
    cfg.features = WORLD
    assert default_vocoder_name(cfg) == "world"
    write_default_vocoder(tmp_path, "pwg:/somewhere")
    assert default_vocoder_name(cfg) == "pwg:/somewhere"
    cfg.vocoder.name = "griffinlim"  # an explicit choice wins
    assert default_vocoder_name(cfg) == "griffinlim"
    (tmp_path / "default_vocoder.json").write_text("[1]")
    cfg.vocoder.name = ""
    with pytest.raises(ConfigError, match="default_vocoder.json"):
        default_vocoder_name(cfg)
