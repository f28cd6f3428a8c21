"""vc.audio: every way an input file can be unusable, mixdown, resampling, formats, saving."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from synth import speech_like

from vc import audio
from vc.errors import AudioError, VCError

SR = 16000


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    return speech_like(seconds=0.5, sr=SR, f0=150.0, seed=3)


def _expect(path, pattern: str, **kwargs) -> None:
    with pytest.raises(AudioError, match=pattern) as err:
        audio.load(path, SR, **kwargs)
    assert str(path) in str(err.value)  # the message names the file
    assert "\n" not in str(err.value)


def test_missing(tmp_path):
    _expect(tmp_path / "nope.wav", "not found")


def test_empty(tmp_path):
    p = tmp_path / "empty.wav"
    p.write_bytes(b"")
    _expect(p, "empty")


def test_not_audio(tmp_path):
    p = tmp_path / "text.wav"
    p.write_text("this is not a wav file at all")
    _expect(p, "not a readable audio file")


def test_zero_length(tmp_path):
    p = tmp_path / "zero.wav"
    sf.write(str(p), np.zeros(0, dtype=np.float32), SR)
    _expect(p, "zero-length")


def test_nan(tmp_path, clip):
    p = tmp_path / "nan.wav"
    bad = clip.copy()
    bad[100] = np.nan
    sf.write(str(p), bad, SR, subtype="FLOAT")
    _expect(p, "NaN")


def test_silent(tmp_path):
    p = tmp_path / "silent.wav"
    sf.write(str(p), np.full(SR, 1e-6, dtype=np.float32), SR, subtype="FLOAT")
    _expect(p, "silent")


def test_too_short_and_too_long(tmp_path, clip):
    p = tmp_path / "half.wav"
    sf.write(str(p), clip, SR)
    _expect(p, "too short", min_duration=0.6)
    _expect(p, "too long", max_duration=0.4)
    assert len(audio.load(p, SR, min_duration=0.4, max_duration=0.6)) == len(clip)


def test_too_long_is_refused_from_the_header(tmp_path, clip, monkeypatch):
    p = tmp_path / "long.wav"
    sf.write(str(p), np.tile(clip, 4), SR)

    def no_read(*args, **kwargs):
        raise AssertionError("samples were decoded")

    monkeypatch.setattr(sf, "read", no_read)
    _expect(p, "too long", max_duration=1.0)


def test_truncated_wav(tmp_path, clip):
    p = tmp_path / "cut.wav"
    sf.write(str(p), clip, SR)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    _expect(p, "truncated")


def test_stereo_is_mixed_down(tmp_path, clip):
    p = tmp_path / "stereo.wav"
    sf.write(str(p), np.stack([clip, np.zeros_like(clip)], axis=1), SR, subtype="FLOAT")
    wav = audio.load(p, SR)
    assert wav.dtype == np.float32 and wav.ndim == 1
    np.testing.assert_allclose(wav, clip / 2, atol=1e-6)


def test_resampling(tmp_path, clip):
    p = tmp_path / "24k.wav"
    t = np.arange(24000) / 24000
    sf.write(str(p), (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 24000, subtype="FLOAT")
    wav = audio.load(p, SR)
    assert len(wav) == SR
    spectrum = np.abs(np.fft.rfft(wav))
    assert abs(np.argmax(spectrum) - 440) <= 1  # 1 s at 16 kHz: bin k is k Hz


@pytest.mark.parametrize("fmt", ["wav", "flac", "ogg", "mp3"])
def test_formats(tmp_path, clip, fmt):
    p = tmp_path / f"clip.{fmt}"
    try:
        sf.write(str(p), clip, SR)
    except (sf.LibsndfileError, TypeError, ValueError) as exc:
        pytest.skip(f"libsndfile {sf.__libsndfile_version__} cannot write {fmt}: {exc}")
    wav = audio.load(p, SR)
    assert wav.dtype == np.float32
    # Lossy codecs pad a little and alter samples; the level and length stay close.
    assert abs(len(wav) - len(clip)) < 0.1 * SR
    assert 0.3 < np.abs(wav).max() < 0.7
    if fmt in ("wav", "flac"):
        np.testing.assert_allclose(wav, clip, atol=1e-4)


def test_save_round_trip(tmp_path, clip):
    p = tmp_path / "sub" / "out.wav"
    audio.save(p, clip * 3, SR)  # clipped to [-1, 1]
    info = sf.info(str(p))
    assert info.subtype == "PCM_16" and info.samplerate == SR
    wav = audio.load(p, SR)
    assert np.abs(wav).max() <= 1.0
    assert not list(p.parent.glob(".*tmp*"))


def test_save_unwritable(tmp_path, clip):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(VCError, match="cannot write"):
        audio.save(blocker / "out.wav", clip, SR)
