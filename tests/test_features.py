"""vc.features: parallel-wavegan log-mel parity, frame counts, WORLD round trip, statistics, fingerprints."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from synth import speech_like

from vc.errors import DataError, FingerprintError
from vc.features import FeatureConfig, Stats, StatsAccumulator, check_fingerprint, extract, logmel, world_synthesize
from vc.vocoders.pwg_compat import import_pwg


@pytest.fixture(scope="module")
def wav() -> np.ndarray:
    return speech_like(seconds=1.3, sr=16000, f0=140.0, seed=7)


def _pwg_logmel(wav: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    pre = import_pwg("bin.preprocess")
    return pre.logmelfilterbank(
        wav,
        cfg.sample_rate,
        fft_size=cfg.n_fft,
        hop_size=cfg.hop_size,
        win_length=cfg.win_length,
        window=cfg.window,
        num_mels=cfg.num_mels,
        fmin=cfg.fmin,
        fmax=cfg.fmax,
        eps=cfg.eps,
        log_base=cfg.log_base,
    )


@pytest.mark.parametrize(
    "overrides",
    [{}, {"sample_rate": 24000, "n_fft": 2048, "hop_size": 300, "win_length": 1200}, {"log_base": 2.0}],
    ids=["tiny16k", "vctk24k", "log2"],
)
def test_logmel_matches_parallel_wavegan(feature_cfg, wav, overrides):
    cfg = dataclasses.replace(feature_cfg, **overrides)
    x = wav if cfg.sample_rate == 16000 else speech_like(seconds=1.3, sr=cfg.sample_rate, f0=140.0, seed=7)
    x = np.concatenate([np.zeros(3000, np.float32), x])  # digital silence: values at the eps floor
    ours, theirs = logmel(x, cfg), _pwg_logmel(x, cfg)
    assert ours.shape == theirs.shape == (1 + len(x) // cfg.hop_size, cfg.num_mels)
    assert ours.dtype == np.float32
    assert np.abs(ours - theirs).max() < 1e-4


@pytest.mark.parametrize("kind", ["mel", "world"])
@pytest.mark.parametrize("length", [16000, 16001, 16199, 3210])
def test_frame_counts_agree(feature_cfg, world_cfg, wav, kind, length):
    cfg = feature_cfg if kind == "mel" else world_cfg
    f = extract(wav[:length], cfg)
    n = 1 + length // cfg.hop
    assert f.feats.shape == (n, cfg.dim) and f.feats.dtype == np.float32
    assert f.f0.shape == (n,) and f.f0.dtype == np.float32
    if kind == "world":
        assert f.ap is not None and f.ap.shape[0] == n and f.ap.shape[1] >= 1
    else:
        assert f.ap is None


def test_f0_is_close_to_the_generated_pitch(feature_cfg, world_cfg):
    for f0 in (100.0, 220.0):
        x = speech_like(seconds=1.0, sr=16000, f0=f0, seed=1)
        for cfg in (feature_cfg, world_cfg, dataclasses.replace(feature_cfg, f0_method="harvest")):
            est = extract(x, cfg).f0
            assert (est > 0).mean() > 0.3
            assert abs(np.median(est[est > 0]) / f0 - 1) < 0.1  # the contour wanders +-15% around f0


def test_world_round_trip(feature_cfg, world_cfg, wav):
    f = extract(wav, world_cfg)
    y = world_synthesize(f.feats, f.f0, f.ap, world_cfg)
    assert y.dtype == np.float32
    assert abs(len(y) - len(wav)) <= world_cfg.hop
    n = min(len(y), len(wav))
    a, b = logmel(wav[:n], feature_cfg), logmel(y[:n], feature_cfg)
    loud = a.max(axis=1) > a.max() - 3  # frames within 30 dB of the peak
    assert np.abs(a[loud] - b[loud]).mean() < 0.25  # log10 units: well under 5 dB on average
    noise = np.random.default_rng(0).standard_normal(n).astype(np.float32) * 0.1
    assert np.abs(a[loud] - logmel(noise, feature_cfg)[loud]).mean() > 0.5  # the check can fail


def _random_stats(q: int = 5) -> Stats:
    rng = np.random.default_rng(0)
    acc = StatsAccumulator(q, ["a", "b"])
    for i in range(4):
        feats = rng.normal(3.0, 2.0, size=(50 + i, q)).astype(np.float32)
        feats[:, -1] = -10.0  # a constant dimension
        f0 = np.where(rng.random(50 + i) < 0.6, rng.lognormal(np.log(120 if i % 2 else 220), 0.1, 50 + i), 0.0)
        acc.add(feats, f0.astype(np.float32), "ab"[i % 2])
    return acc.finish()


def test_stats_match_a_direct_computation():
    rng = np.random.default_rng(1)
    chunks = [rng.normal(1.0, 3.0, size=(n, 4)) for n in (7, 30, 1, 12)]
    acc = StatsAccumulator(4, ["x"])
    for c in chunks:
        acc.add(c, np.full(len(c), 100.0), "x")
    stats = acc.finish()
    every = np.concatenate(chunks)
    np.testing.assert_allclose(stats.mean, every.mean(0), rtol=1e-10)
    np.testing.assert_allclose(stats.scale, every.std(0), rtol=1e-10)
    assert stats.lf0_mean["x"] == pytest.approx(np.log(100.0))


def test_stats_normalize_round_trip_and_file(tmp_path, feature_cfg):
    stats = _random_stats()
    assert stats.scale[-1] > 0  # constant dimension floored, not zero
    feats = np.random.default_rng(2).normal(3.0, 2.0, size=(20, 5)).astype(np.float32)
    norm = stats.normalize(feats)
    assert norm.dtype == np.float32
    np.testing.assert_allclose(stats.denormalize(norm), feats, atol=1e-5)
    image = torch.from_numpy(feats.T.copy())[None, None]  # (1, 1, Q, N)
    np.testing.assert_allclose(stats.normalize(image, axis=-2)[0, 0].numpy().T, norm, atol=1e-5)

    path = tmp_path / "stats.h5"
    stats.save(path, feature_cfg)
    back = Stats.load(path, feature_cfg)
    np.testing.assert_array_equal(back.mean, stats.mean)
    np.testing.assert_array_equal(back.scale, stats.scale)
    assert back.lf0_mean == stats.lf0_mean and back.lf0_std == stats.lf0_std
    assert back.domains == ["a", "b"] and back.fingerprint == feature_cfg.fingerprint()

    # parallel-wavegan's own reader and scaler accept the file.
    utils = import_pwg("utils")
    np.testing.assert_array_equal(utils.read_hdf5(str(path), "mean"), stats.mean)
    np.testing.assert_array_equal(utils.read_hdf5(str(path), "scale"), stats.scale)

    with pytest.raises(FingerprintError, match="num_mels: 40 vs 80"):
        Stats.load(path, dataclasses.replace(feature_cfg, num_mels=40))

    # Plain-data form for checkpoints: only builtins, and an exact round trip.
    plain = back.to_dict()
    assert isinstance(plain["mean"], list) and isinstance(plain["lf0_mean"]["a"], float)
    again = Stats.from_dict(plain)
    np.testing.assert_array_equal(again.scale, stats.scale)
    assert again.lf0_std == stats.lf0_std and again.domains == stats.domains
    assert again.fingerprint == feature_cfg.fingerprint()


def test_per_domain_moments_over_voiced_frames(tmp_path, feature_cfg):
    rng = np.random.default_rng(3)
    acc = StatsAccumulator(3, ["a", "b", "silent"])
    frames = {"a": [], "b": []}
    for i in range(6):
        d = "ab"[i % 2]
        feats = rng.normal(2.0 if d == "a" else -1.0, 1.0 + i % 2, size=(40, 3))
        voiced = rng.random(40) < 0.5
        feats[~voiced] = 50.0  # unvoiced frames must not count
        acc.add(feats, np.where(voiced, 120.0, 0.0), d)
        frames[d].append(feats[voiced])
    acc.add(rng.normal(size=(5, 3)), np.zeros(5), "silent")  # no voiced frame at all
    stats = acc.finish()
    for d in "ab":
        mean, std = stats.domain_moments(d, normalized=False)
        every = np.concatenate(frames[d])
        np.testing.assert_allclose(mean, every.mean(0), rtol=1e-10)
        np.testing.assert_allclose(std, every.std(0), rtol=1e-10)
        nmean, nstd = stats.domain_moments(d)  # in the normalised space the model works in
        np.testing.assert_allclose(nmean, (every.mean(0) - stats.mean) / stats.scale, rtol=1e-10)
        np.testing.assert_allclose(nstd, every.std(0) / stats.scale, rtol=1e-10)
    # a domain without voiced frames gets the global moments: its shift is the identity
    np.testing.assert_allclose(stats.domain_moments("silent")[0], 0.0, atol=1e-12)
    np.testing.assert_allclose(stats.domain_moments("silent")[1], 1.0, rtol=1e-12)

    path = tmp_path / "stats.h5"
    stats.save(path, feature_cfg)
    back = Stats.load(path)
    again = Stats.from_dict(back.to_dict())
    for d in ("a", "b", "silent"):
        for loaded in (back, again):
            np.testing.assert_array_equal(loaded.domain_moments(d)[0], stats.domain_moments(d)[0])
            np.testing.assert_array_equal(loaded.domain_moments(d)[1], stats.domain_moments(d)[1])
    assert back.has_domain_moments

    # statistics from before per-domain moments existed: a clear way out
    old = Stats(stats.mean, stats.scale, stats.lf0_mean, stats.lf0_std, stats.domains)
    assert not old.has_domain_moments
    with pytest.raises(DataError, match="re-run vc-prep"):
        old.domain_moments("a")


def test_f0_normalisation_and_conversion():
    stats = _random_stats()
    f0 = np.array([0.0, np.exp(stats.lf0_mean["a"]), 0.0, 300.0], dtype=np.float32)
    z = stats.f0_normalized(f0, "a")
    assert z[0] == 0 and z[2] == 0 and z[1] == pytest.approx(0.0, abs=1e-5)
    assert z[3] == pytest.approx((np.log(300.0) - stats.lf0_mean["a"]) / stats.lf0_std["a"], rel=1e-5)
    np.testing.assert_allclose(stats.f0_normalized(f0, 0), z)  # by index

    out = stats.convert_f0(f0, "a", "b")
    assert out[0] == 0 and out[2] == 0
    assert out[1] == pytest.approx(np.exp(stats.lf0_mean["b"]), rel=1e-5)  # mean maps onto mean
    # one source standard deviation above the mean lands one target deviation above.
    up = np.exp(stats.lf0_mean["a"] + stats.lf0_std["a"])
    assert stats.convert_f0(np.array([up]), "a", "b")[0] == pytest.approx(
        np.exp(stats.lf0_mean["b"] + stats.lf0_std["b"]), rel=1e-5
    )
    t = stats.convert_f0(torch.from_numpy(f0), "a", "b")
    np.testing.assert_allclose(t.numpy(), out, rtol=1e-5)
    np.testing.assert_allclose(stats.f0_normalized(torch.from_numpy(f0), "a").numpy(), z, atol=1e-5)


def test_fingerprint_refusal_names_the_field(feature_cfg):
    other = dataclasses.replace(feature_cfg, hop_size=256)
    assert other.fingerprint() != feature_cfg.fingerprint()
    with pytest.raises(FingerprintError, match="hop_size: 200 vs 256"):
        check_fingerprint(feature_cfg, other.to_dict(), "some/cache.h5")
    check_fingerprint(feature_cfg, dataclasses.replace(feature_cfg).to_dict(), "same")  # no error
