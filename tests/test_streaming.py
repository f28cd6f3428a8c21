"""Streaming conversion (vc.streaming): block-size invariance, agreement with offline conversion,
bounded state, bad input mid-stream, and ``vc-convert --stream``."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
import soundfile as sf
from conftest import tiny_experiment
from synth import speech_like

import vc
from vc.errors import ConfigError, VCError
from vc.streaming import Stream, make_plan


@pytest.fixture(scope="module")
def world_ckpt(tmp_path_factory, world_dump):
    """A tiny StarGAN v2 on WORLD features and the statistical base (the cpu config's shape)."""
    from vc.train import train

    exp = tiny_experiment(world_dump, tmp_path_factory.mktemp("stream") / "exp",
                          model=dict(generator_base="statistical", f0_net_steps=0),
                          train=dict(max_steps=10, eval_every=0, save_every=0))
    return train(exp, device="cpu")


@pytest.fixture(scope="module")
def conv(world_ckpt):
    return vc.load(world_ckpt, device="cpu")


def run(stream: Stream, wav: np.ndarray, block: int) -> np.ndarray:
    parts = [stream.feed(wav[i : i + block]) for i in range(0, len(wav), block)]
    return np.concatenate(parts + [stream.flush()])


def mel_db(wav: np.ndarray) -> np.ndarray:
    import librosa

    mel = librosa.feature.melspectrogram(y=wav, sr=16000, n_fft=512, hop_length=128, n_mels=40)
    return 10 * np.log10(mel + 1e-10)


def lsd(a: np.ndarray, b: np.ndarray) -> float:
    """Log-spectral distance (dB) on 40 mel bands over the frames within 40 dB of the loudest of ``a``.
    Mel bands rather than FFT bins: two WORLD syntheses of the same features that start at different
    frames differ in their noise and pulse phases, which per-bin spectra magnify to several dB."""
    a_db, b_db = mel_db(a), mel_db(b)
    active = a_db.max(0) > a_db.max() - 40
    return float(np.mean(np.sqrt(np.mean((a_db[:, active] - b_db[:, active]) ** 2, axis=0))))


WAV = speech_like(1.5, 16000, f0=120, seed=3).astype(np.float32)


def test_plan_keeps_the_latency_it_is_given(conv):
    plan = make_plan(conv.features)
    assert plan.latency_ms <= 180.0
    assert plan.block >= 1 and plan.lookahead >= plan.crossfade
    short = make_plan(conv.features, latency_ms=120.0)
    assert make_plan(conv.features, latency_ms=200.0).block > plan.block
    assert short.latency_ms <= 120.0 and short.block < plan.block
    assert make_plan(conv.features, latency_ms=200.0, block_ms=50.0).block == 10
    with pytest.raises(ConfigError, match="too short"):
        make_plan(conv.features, latency_ms=20.0)


@pytest.mark.parametrize("source", ["low", None])
def test_block_sizes_give_the_same_output(conv, source):
    outs = [run(Stream(conv, target="high", source=source), WAV, block) for block in (1, 160, 4000)]
    assert all(len(o) == len(WAV) for o in outs)
    assert np.array_equal(outs[0], outs[1]) and np.array_equal(outs[1], outs[2])
    assert np.isfinite(outs[0]).all() and np.abs(outs[0]).max() <= 0.99


def test_output_leaves_within_the_latency(conv):
    stream = Stream(conv, target="high", source="low")
    got = 0
    for i in range(0, len(WAV), 160):
        got += len(stream.feed(WAV[i : i + 160]))
        fed = min(i + 160, len(WAV))
        assert got <= fed
        assert got >= fed - stream.plan.latency_samples - stream.plan.block * stream.plan.hop
    assert got + len(stream.flush()) == len(WAV)


def test_known_source_matches_offline_conversion(conv):
    """With the source's domain statistics the stream converts as offline conversion does, up to the
    WORLD synthesis restarts at chunk boundaries (2-2.5 dB here, about what restarting offline
    synthesis one frame later gives); another target is several times further away."""
    y = run(Stream(conv, target="high", source="low"), WAV, 160)
    offline = conv.convert(WAV, conv.style(target="high", seed=0), source="low")
    other = conv.convert(WAV, conv.style(target="mid", seed=0), source="low")
    assert lsd(offline, y) < 3.0
    assert lsd(offline, other) > 2 * lsd(offline, y)
    level = 10 * np.log10(np.mean(y.astype(np.float64) ** 2) / np.mean(offline.astype(np.float64) ** 2))
    assert abs(level) < 1.0


def test_unknown_source_statistics_converge_without_jumps(conv):
    """An unknown source's running statistics start at the training average and move towards the
    clip's own: later seconds are closer to offline conversion (whole-clip statistics) than the
    first, and closer to it than to a conversion to another target."""
    wav = np.concatenate([speech_like(1.5, 16000, f0=120, seed=k) for k in range(4)]).astype(np.float32)
    y = run(Stream(conv, target="high"), wav, 400)
    offline = conv.convert(wav, conv.style(target="high", seed=0))
    other = conv.convert(wav, conv.style(target="mid", seed=0))
    first, last = slice(0, 16000), slice(3 * 16000, 6 * 16000)
    assert lsd(offline[last], y[last]) < lsd(offline[first], y[first])
    assert lsd(offline[last], y[last]) < lsd(offline[last], other[last])


def test_long_stream_keeps_its_state_bounded(conv):
    stream = Stream(conv, target="high", source="low")
    sizes = []
    for _ in range(6):
        for i in range(0, len(WAV), 1600):
            stream.feed(WAV[i : i + 1600])
        sizes.append((len(stream._in), len(stream._x), len(stream._y)))
    p = stream.plan
    assert sizes[-1][0] <= (p.block + p.lookahead + p.margin + p.left_margin + 1600 // p.hop + 2) * p.hop
    assert sizes[-1][1] <= p.context + p.block + p.lookahead + p.full_margin + 1600 // p.hop + 2
    assert sizes[-1][2] <= p.voc_context + p.block
    assert max(s[1] for s in sizes[2:]) <= max(s[1] for s in sizes[:2]) + 1600 // p.hop


def test_bad_blocks_are_refused_and_the_stream_goes_on(conv):
    stream = Stream(conv, target="high", source="low")
    out = [stream.feed(WAV[:8000])]
    bad = WAV[8000:9000].copy()
    bad[10] = np.nan
    with pytest.raises(VCError, match="block 2: contains NaN"):
        stream.feed(bad)
    with pytest.raises(VCError, match="expected 1-D"):
        stream.feed(np.zeros((2, 100), np.float32))
    out += [stream.feed(WAV[8000:]), stream.flush()]
    y = np.concatenate(out)
    assert len(y) == len(WAV) and np.isfinite(y).all()
    with pytest.raises(VCError, match="after flush"):
        stream.feed(WAV[:10])


def test_strength_zero_is_the_statistical_conversion(conv):
    import torch

    from vc.models.stargan_v2 import generator_input

    x = torch.randn(1, 1, conv.features.dim, 40)
    f0n = torch.zeros(1, 40)
    style = conv.style(target="high", seed=0)
    base = generator_input(conv.nets, x, torch.tensor([0]), torch.tensor([2]))
    y0 = conv.family.convert(conv.nets, x, f0n, 0, 2, style.vector, strength=0.0)
    y1 = conv.family.convert(conv.nets, x, f0n, 0, 2, style.vector)
    yh = conv.family.convert(conv.nets, x, f0n, 0, 2, style.vector, strength=0.5)
    assert torch.allclose(y0, base) and not torch.allclose(y1, base)
    assert torch.allclose(yh, (y0 + y1) / 2, atol=1e-5)


# ---------------------------------------------------------------------------------------------------
# vc-convert --stream


def vc_convert(*args, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["vc-convert", *map(str, args)], input=stdin, capture_output=True)


def test_cli_streams_a_file_and_stdin(world_ckpt, tmp_path):
    src = tmp_path / "a.wav"
    sf.write(src, WAV, 16000)
    proc = vc_convert("--ckpt", world_ckpt, "--stream", "--src", src, "--target", "high", "--source", "low",
                      "--out", tmp_path / "o.wav")
    assert proc.returncode == 0, proc.stderr.decode()
    assert "180 ms algorithmic latency" in proc.stderr.decode()
    y, sr = sf.read(tmp_path / "o.wav", dtype="float32")
    assert sr == 16000 and len(y) == len(WAV)
    pcm = sf.read(src, dtype="int16")[0].astype("<i2").tobytes()  # the file's own samples
    proc = vc_convert("--ckpt", world_ckpt, "--stream", "--src", "-", "--target", "high", "--source", "low",
                      "--out", "-", stdin=pcm)
    assert proc.returncode == 0, proc.stderr.decode()
    raw = np.frombuffer(proc.stdout, dtype="<i2").astype(np.float32) / 32768
    assert len(raw) == len(WAV)
    assert np.abs(raw - y).max() <= 2 / 32768  # the same conversion, written as 16-bit samples


def test_cli_bad_stream_input(world_ckpt, tmp_path):
    sf.write(tmp_path / "a22.wav", WAV, 22050)
    proc = vc_convert("--ckpt", world_ckpt, "--stream", "--src", tmp_path / "a22.wav", "--target", "high",
                      "--out", tmp_path / "o.wav")
    assert proc.returncode == 2 and not (tmp_path / "o.wav").exists()
    err = proc.stderr.decode().strip().splitlines()[-1]
    assert "a22.wav: 22050 Hz" in err and "Traceback" not in proc.stderr.decode()
    # stdin that closes in the middle of a sample: what arrived is converted and kept as valid audio
    pcm = (WAV[:12000] * 32767).astype("<i2").tobytes() + b"\x01"
    proc = vc_convert("--ckpt", world_ckpt, "--stream", "--src", "-", "--target", "high", "--out",
                      tmp_path / "cut.wav", stdin=pcm)
    assert proc.returncode == 2
    assert "stdin: ended in the middle of a 16-bit sample" in proc.stderr.decode()
    y, _ = sf.read(tmp_path / "cut.wav")
    assert len(y) == 12000 and np.isfinite(y).all()
    # a truncated WAV is refused before anything is written
    sf.write(tmp_path / "a.wav", WAV, 16000)
    (tmp_path / "t.wav").write_bytes((tmp_path / "a.wav").read_bytes()[:20000])
    proc = vc_convert("--ckpt", world_ckpt, "--stream", "--src", tmp_path / "t.wav", "--target", "high",
                      "--out", tmp_path / "t_out.wav")
    assert proc.returncode == 2 and "truncated" in proc.stderr.decode()
    assert not (tmp_path / "t_out.wav").exists()
    # non-finite samples part-way through a float WAV: the part before them is kept
    nan = WAV.copy()
    nan[20000] = np.nan
    sf.write(tmp_path / "nan.wav", nan, 16000, subtype="FLOAT")
    proc = vc_convert("--ckpt", world_ckpt, "--stream", "--src", tmp_path / "nan.wav", "--target", "high",
                      "--out", tmp_path / "nan_out.wav")
    assert proc.returncode == 2 and "NaN" in proc.stderr.decode()
    y, _ = sf.read(tmp_path / "nan_out.wav")
    assert 0 < len(y) <= 20000 and np.isfinite(y).all()
