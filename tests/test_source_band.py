"""The source's own high band under WORLD conversions (vocoder.source_band_hz)."""

import numpy as np
import pytest
from synth import speech_like

from vc.features.config import FeatureConfig
from vc.features.gate import apply_gains
from vc.vocoders.source_band import psola, source_band

CFG = FeatureConfig(kind="world", sample_rate=16000, f0_floor=60.0, f0_ceil=500.0)


def _median_f0(wav):
    from vc.features import world

    f0 = world.f0(wav, CFG)
    return float(np.median(f0[f0 > 0]))


def _band_db(wav, lo, hi):
    spec = np.abs(np.fft.rfft(wav.astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(len(wav), 1 / CFG.sample_rate)
    return 10 * np.log10(spec[(freqs >= lo) & (freqs < hi)].sum())


def test_psola_moves_the_pitch_and_keeps_the_length():
    wav = speech_like(seconds=1.0, f0=120.0, lead_silence=0.05, seed=1)
    from vc.features import world

    f0 = world.f0(wav, CFG)
    up = psola(wav, np.where(f0 > 0, 1.5 * f0, 0.0), CFG)
    assert up.shape == wav.shape and up.dtype == np.float32
    assert _median_f0(up) == pytest.approx(1.5 * _median_f0(wav), rel=0.08)
    # Nothing voiced: nothing to move, the input comes back.
    assert psola(wav, np.zeros_like(f0), CFG) is wav


def test_source_band_keeps_the_low_band_and_filters_the_source_above():
    """Below the cutoff the output is WORLD's; above it the source's, raised by what the converted
    envelope adds to its own (+6 dB here)."""
    from vc.features import world

    wav = speech_like(seconds=1.0, f0=130.0, lead_silence=0.05, seed=2)
    f0 = world.f0(wav, CFG)
    louder = apply_gains(world.analyze(wav, CFG)[0], np.full(len(f0), 6.0), CFG)
    # a stand-in for WORLD's output with nothing above 2 kHz, so each band's origin shows
    rng = np.random.default_rng(0)
    low = np.convolve(rng.normal(size=len(wav)), np.hanning(31), mode="same").astype(np.float32) * 0.05
    out = source_band(low, wav, louder, f0, CFG, cutoff_hz=2000.0)
    assert out.shape == wav.shape and out.dtype == np.float32 and np.isfinite(out).all()
    assert _band_db(out, 100, 1000) == pytest.approx(_band_db(low, 100, 1000), abs=0.5)
    assert _band_db(out, 3000, 7000) == pytest.approx(_band_db(wav, 3000, 7000) + 6.0, abs=1.5)
    # WORLD's output longer or shorter than the source: the result still has the source's length
    assert source_band(low[:-37], wav, louder, f0, CFG, 2000.0).shape == wav.shape


def test_converter_source_band(world_ckpt):
    """Through vc.load: the setting converts at the source's length and differs from WORLD alone
    above the cutoff only; bad values are clear errors; the config refuses a negative one."""
    import vc
    from vc.errors import VCError
    from vc.vocoders.config import VocoderConfig

    plain = vc.load(world_ckpt, strength=0.0)
    banded = vc.load(world_ckpt, strength=0.0, source_band_hz=3000)
    sr = plain.sample_rate
    wav = speech_like(seconds=1.0, sr=sr, f0=140.0, seed=3)
    target = plain.domains[-1]
    a = plain(wav, sr=sr, target=target, seed=0)[0]
    b = banded(wav, sr=sr, target=target, seed=0)[0]
    assert b.shape == a.shape == wav.shape and np.isfinite(b).all()
    assert _band_db(b, 100, 2000) == pytest.approx(_band_db(a, 100, 2000), abs=1.0)
    assert not np.allclose(a, b)
    with pytest.raises(VCError, match="source band"):
        vc.load(world_ckpt, source_band_hz=-1)
    with pytest.raises(VCError, match="Nyquist"):
        vc.load(world_ckpt, source_band_hz=8000)
    with pytest.raises(ValueError, match="source_band_hz"):
        VocoderConfig(source_band_hz=-5)


def test_vc_convert_source_band_flag(world_ckpt, tmp_path):
    """vc-convert --source-band-hz converts; an impossible value is one line, no output written."""
    import os
    import subprocess

    import soundfile as sf

    src = tmp_path / "a.wav"
    sf.write(src, speech_like(1.0, 16000, f0=120, seed=4), 16000)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    base = ["vc-convert", "--ckpt", str(world_ckpt), "--src", str(src), "--target", "high", "--seed", "0"]
    ok = subprocess.run([*base, "--out", str(tmp_path / "ok.wav"), "--source-band-hz", "2000"], env=env,
                        capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stderr
    out, sr = sf.read(tmp_path / "ok.wav")
    assert sr == 16000 and len(out) == 16000
    bad = subprocess.run([*base, "--out", str(tmp_path / "bad.wav"), "--source-band-hz", "9000"], env=env,
                         capture_output=True, text=True, timeout=300)
    lines = [line for line in bad.stderr.splitlines() if line.strip()]
    assert bad.returncode != 0 and len(lines) == 1 and "Nyquist" in lines[0] and "Traceback" not in bad.stderr
    assert not (tmp_path / "bad.wav").exists()
