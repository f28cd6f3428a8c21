"""Silence gate (vocoder.silence_gate_db): levels, gains, and the converter/streaming paths."""

import numpy as np
import pytest

from vc.features.config import FeatureConfig
from vc.features.gate import MAX_CUT_DB, apply_gains, frame_levels, gate_gains, silence_gate


@pytest.mark.parametrize("kind", ["world", "mel"])
def test_levels_follow_gain(kind):
    """A gain of g dB raises every frame level by g dB, and apply_gains inverts a measured change."""
    cfg = FeatureConfig(kind=kind)
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(20, cfg.dim))
    moved = apply_gains(feats, np.full(20, 6.0), cfg)
    np.testing.assert_allclose(frame_levels(moved, cfg) - frame_levels(feats, cfg), 6.0)
    if kind == "world":  # only c0 carries the level of the coded envelope
        np.testing.assert_array_equal(moved[:, 1:], feats[:, 1:])


def test_world_level_is_power_in_db():
    """On WORLD's coded envelope, doubling the amplitude is +6.02 dB."""
    import pyworld

    cfg = FeatureConfig(kind="world", sample_rate=16000)
    sr = cfg.sample_rate
    t = np.arange(sr) / sr
    wav = 0.1 * np.sin(2 * np.pi * 150 * t) + 0.01 * np.random.default_rng(0).normal(size=sr)
    levels = []
    for scale in (1.0, 2.0):
        f0, tt = pyworld.dio(wav * scale, sr)
        sp = pyworld.cheaptrick(wav * scale, f0, tt, sr)
        levels.append(frame_levels(pyworld.code_spectral_envelope(sp, sr, cfg.num_sp), cfg))
    np.testing.assert_allclose(levels[1] - levels[0], 20 * np.log10(2.0), atol=1e-6)


def test_gains_spare_speech_and_cut_pauses():
    levels = np.r_[np.full(30, -70.0), np.full(60, -20.0), np.full(30, -60.0)]
    gains = gate_gains(levels, threshold_db=30.0, ratio=3.0)
    assert np.all(gains <= 0)
    np.testing.assert_allclose(gains[40:80], 0.0, atol=1e-9)  # speech: 0 dB
    assert gains[:20].max() == pytest.approx(-MAX_CUT_DB)  # 20 dB below the threshold, ratio 3: capped at 30
    assert gains[-20:].max() == pytest.approx(-20.0)  # 10 dB below: cut by 20
    # Ratio near 1 leaves everything alone; a larger threshold cuts less.
    assert np.abs(gate_gains(levels, 30.0, 1.0 + 1e-9)).max() < 1e-6
    assert gate_gains(levels, 45.0, 3.0)[-20:].max() == 0.0


def test_gate_keys_on_the_source():
    """The cut follows the source's pauses, whatever the converted frames' own level."""
    cfg = FeatureConfig(kind="world")
    src = np.zeros((60, cfg.dim))
    src[:, 0] = np.r_[np.full(20, 0.0), np.full(20, -12.0), np.full(20, 0.0)]  # -52 dB pause in the middle
    conv = np.ones_like(src)
    out = silence_gate(conv, src, cfg, threshold_db=30.0, ratio=3.0)
    cut = frame_levels(out, cfg) - frame_levels(conv, cfg)
    assert cut[25:35].max() < -20 and np.abs(cut[:10]).max() < 1e-6 and np.abs(cut[-10:]).max() < 1e-6


def test_converter_gate_quiets_pauses(world_ckpt):
    """Through vc.load: the gate lowers a converted pause and leaves the speech level unchanged;
    streaming applies it too; a negative gate is a clear error."""
    import vc
    from vc.errors import VCError

    # strength 0: the statistical conversion, so the levels are those of real conversions
    conv = vc.load(world_ckpt, silence_gate_db=0, strength=0.0)
    sr = conv.sample_rate
    t = np.arange(sr) / sr
    # a voice-like harmonic tone (140 Hz, harmonics to 4 kHz) with a syllable-rate envelope
    tone = sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 4000 // 140))
    speech = (0.1 * tone * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    noise = 1e-4 * np.random.default_rng(0).normal(size=sr // 2).astype(np.float32)
    wav = np.r_[speech, noise, speech].astype(np.float32)
    target = conv.domains[-1]
    off = conv(wav, sr=sr, target=target, seed=0)[0]
    on = vc.load(world_ckpt, silence_gate_db=20, strength=0.0)(wav, sr=sr, target=target, seed=0)[0]
    pause = slice(sr + sr // 8, sr + 3 * sr // 8)

    def rms(x):
        return float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))

    speech_part = slice(sr // 4, 3 * sr // 4)
    assert rms(on[pause]) < 0.3 * rms(off[pause])
    assert rms(on[speech_part]) == pytest.approx(rms(off[speech_part]), rel=0.1)

    from vc.streaming import Stream

    gated = vc.load(world_ckpt, silence_gate_db=20, strength=0.0)
    stream = Stream(gated, target=target, seed=0)
    out = np.concatenate([stream.feed(wav[i : i + 1600]) for i in range(0, len(wav), 1600)] + [stream.flush()])
    plain = Stream(conv, target=target, seed=0)
    ref = np.concatenate([plain.feed(wav[i : i + 1600]) for i in range(0, len(wav), 1600)] + [plain.flush()])
    assert rms(out[pause]) < 0.5 * rms(ref[pause])
    with pytest.raises(VCError, match="silence gate"):
        vc.load(world_ckpt, silence_gate_db=-1)
