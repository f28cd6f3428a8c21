"""vc-convert through the console script and the Python API, with a tiny checkpoint."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from synth import speech_like

import vc
from vc.audio import save
from vc.errors import AudioError, CheckpointError, ConfigError

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
SR = 16000
HOP = 200


def _run(args, cwd, env=None, check=True):
    proc = subprocess.run(["vc-convert", *map(str, args)], cwd=cwd, env=env or ENV, capture_output=True,
                          text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"vc-convert {args} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def _one_line_error(proc, code=2):
    assert proc.returncode == code, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


@pytest.fixture
def src(tmp_path) -> Path:
    path = tmp_path / "in" / "a.wav"
    path.parent.mkdir()
    sf.write(path, speech_like(1.2, SR, f0=120, seed=3), SR)
    return path


def test_target_mode_length_seed_and_num_styles(trained_ckpt, src, tmp_path):
    out = tmp_path / "o.wav"
    _run(["--ckpt", trained_ckpt, "--src", src, "--target", "high", "--out", out, "--seed", 1], tmp_path)
    wav, sr = sf.read(out)
    ref, _ = sf.read(src)
    assert sr == SR and abs(len(wav) - len(ref)) <= HOP
    assert np.abs(wav).max() <= 0.99 + 1e-4

    again = tmp_path / "o2.wav"
    _run(["--ckpt", trained_ckpt, "--src", src, "--target", "high", "--out", again, "--seed", 1], tmp_path)
    assert np.array_equal(sf.read(again)[0], wav), "--seed must make the output reproducible"

    _run(["--ckpt", trained_ckpt, "--src", src, "--target", "high", "--num-styles", 3, "--seed", 5], tmp_path)
    outs = sorted(src.parent.glob("a_to_high_*.wav"))
    assert [p.name for p in outs] == ["a_to_high_0.wav", "a_to_high_1.wav", "a_to_high_2.wav"]
    a, b = sf.read(outs[0])[0], sf.read(outs[1])[0]
    assert not np.array_equal(a, b), "different styles should give different outputs"


def test_default_output_name_and_loudness(trained_ckpt, src, tmp_path):
    proc = _run(["--ckpt", trained_ckpt, "--src", src, "--target", "low"], tmp_path)
    out = src.parent / "a_to_low.wav"
    assert proc.stdout.strip() == str(out)
    wav, ref = sf.read(out)[0], sf.read(src)[0]
    level = lambda x: 20 * np.log10(np.sqrt(np.mean(x**2)) + 1e-9)  # noqa: E731
    assert abs(level(wav) - level(ref)) < 3.0


def test_ref_mode_with_and_without_target(trained_ckpt, src, tiny_corpus, tmp_path):
    ref = sorted((tiny_corpus / "mid").glob("*.wav"))[0]
    proc = _run(["--ckpt", trained_ckpt, "--src", src, "--ref", ref, "--out", tmp_path / "r.wav"], tmp_path)
    assert "judged closest to domain" in proc.stderr
    assert (tmp_path / "r.wav").is_file()
    _run(["--ckpt", trained_ckpt, "--src", src, "--ref", ref, "--target", "low", "--out", tmp_path / "r2.wav"],
         tmp_path)
    assert (tmp_path / "r2.wav").is_file()


def test_batch_dir_keeps_good_outputs_and_reports_bad(trained_ckpt, tmp_path):
    srcs = tmp_path / "srcs"
    (srcs / "sub").mkdir(parents=True)
    sf.write(srcs / "one.wav", speech_like(0.8, SR, seed=1), SR)
    sf.write(srcs / "sub" / "two.flac", speech_like(0.8, SR, seed=2), SR)
    (srcs / "broken.wav").write_bytes(b"RIFF\x00\x00not really a wav")
    proc = _run(["--ckpt", trained_ckpt, "--src-dir", srcs, "--out-dir", tmp_path / "outs", "--target", "mid"],
                tmp_path, check=False)
    assert proc.returncode == 1
    assert (tmp_path / "outs" / "one_to_mid.wav").is_file()
    assert (tmp_path / "outs" / "sub" / "two_to_mid.wav").is_file()
    assert "broken.wav" in proc.stderr and "wrote 2 file(s); 1 failed" in proc.stderr
    assert not list((tmp_path / "outs").rglob("*.tmp*")), "no temp files may be left behind"


def test_batch_list(trained_ckpt, src, tiny_corpus, tmp_path):
    ref = sorted((tiny_corpus / "low").glob("*.wav"))[0]
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text(f"src\ttarget\tout\n{src}\thigh\tl1.wav\n{src}\tmid\tl2.wav\n")
    _run(["--ckpt", trained_ckpt, "--list", pairs], tmp_path)
    assert (tmp_path / "l1.wav").is_file() and (tmp_path / "l2.wav").is_file()
    refs = tmp_path / "refs.tsv"
    refs.write_text(f"{src}\t{ref}\tl3.wav\n")  # no header: an audio path in column 2 means a reference
    _run(["--ckpt", trained_ckpt, "--list", refs], tmp_path)
    assert (tmp_path / "l3.wav").is_file()

    # A fourth column names each row's source domain, as --source does for the whole run; a row with an
    # unknown source domain fails alone.
    sourced = tmp_path / "sourced.tsv"
    sourced.write_text(f"src\ttarget\tout\tsource\n{src}\thigh\ts1.wav\tlow\n{src}\thigh\ts2.wav\t\n"
                       f"{src}\thigh\ts3.wav\tp999\n")
    proc = _run(["--ckpt", trained_ckpt, "--list", sourced, "--seed", "3"], tmp_path, check=False)
    assert proc.returncode == 1 and "unknown source domain 'p999'" in proc.stderr and "1 failed" in proc.stderr
    conv = vc.load(trained_ckpt, device="cpu")
    for name, source in (("flag", "low"), ("none", None)):  # what --source low, and no --source, give
        save(tmp_path / f"{name}.wav", conv(src, target="high", seed=3, source=source)[0], conv.sample_rate)
    audio = {name: sf.read(tmp_path / f"{name}.wav")[0] for name in ("s1", "s2", "flag", "none")}
    assert np.array_equal(audio["s1"], audio["flag"]) and np.array_equal(audio["s2"], audio["none"])
    assert not np.array_equal(audio["s1"], audio["s2"])  # the source's statistics were used


def test_errors_are_one_line(trained_ckpt, src, tmp_path):
    line = _one_line_error(_run(["--ckpt", trained_ckpt, "--src", src, "--target", "p999"], tmp_path, check=False))
    assert "p999" in line and "high, low, mid" in line

    line = _one_line_error(_run(["--ckpt", tmp_path / "nope.pt", "--src", src, "--target", "low"], tmp_path,
                                check=False))
    assert "nope.pt" in line and "not found" in line

    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(Path(trained_ckpt).read_bytes()[:1000])
    line = _one_line_error(_run(["--ckpt", corrupt, "--src", src, "--target", "low"], tmp_path, check=False))
    assert "corrupt.pt" in line

    line = _one_line_error(_run(["--ckpt", trained_ckpt, "--src", tmp_path / "missing.wav", "--target", "low"],
                                tmp_path, check=False))
    assert "missing.wav" in line

    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    line = _one_line_error(_run(["--ckpt", trained_ckpt, "--src", src, "--target", "low",
                                 "--out", blocker / "out.wav"], tmp_path, check=False))
    assert str(blocker / "out.wav") in line

    line = _one_line_error(_run(["--ckpt", trained_ckpt, "--src", src, "--target", "low", "--out", src],
                                tmp_path, check=False))
    assert "overwrite the source" in line


def test_default_checkpoint_from_env_and_exp(trained_ckpt, src, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in ENV.items() if k != "VC_CKPT"}
    line = _one_line_error(_run(["--src", src, "--target", "low"], work, env=env, check=False))
    assert "--ckpt" in line and "VC_CKPT" in line

    _run(["--src", src, "--target", "low", "--out", "e.wav"], work, env={**env, "VC_CKPT": str(trained_ckpt)})
    assert (work / "e.wav").is_file()

    dest = work / "exp" / "mine" / "checkpoints"
    dest.mkdir(parents=True)
    shutil.copy(trained_ckpt, dest / "step_00000020.pt")
    _run(["--src", src, "--target", "low", "--out", "x.wav"], work, env=env)
    assert (work / "x.wav").is_file()


def test_vocoder_feature_mismatch_is_refused(trained_ckpt, src, tmp_path):
    import yaml

    voc = tmp_path / "voc"
    voc.mkdir()
    (voc / "config.yml").write_text(yaml.safe_dump(dict(
        sampling_rate=SR, fft_size=1024, hop_size=256, win_length=800, window="hann", num_mels=80,
        fmin=80, fmax=7600, generator_type="HiFiGANGenerator", generator_params={})))
    line = _one_line_error(_run(["--ckpt", trained_ckpt, "--src", src, "--target", "low",
                                 "--vocoder", f"pwg:{voc}"], tmp_path, check=False))
    assert "hop_size" in line and "256" in line


def test_python_api_long_input_is_windowed(trained_ckpt):
    conv = vc.load(trained_ckpt, device="cpu")
    assert conv.domains == ["high", "low", "mid"]
    minute = np.concatenate([speech_like(5.0, SR, f0=110 + 5 * i, seed=i) for i in range(12)])
    wav, sr = conv(minute, sr=SR, target="mid", seed=0)
    assert sr == SR and len(wav) == len(minute)
    assert np.isfinite(wav).all() and np.abs(wav).max() <= 0.99 + 1e-6
    # Cross-fades leave no gaps: every second of the output that had speech in the input has sound.
    sec = lambda x: np.sqrt(np.mean(x[: len(x) // SR * SR].reshape(-1, SR) ** 2, axis=1))  # noqa: E731
    assert (sec(wav)[sec(minute) > 0.01] > 1e-3).all()


def test_python_api_errors(trained_ckpt, src):
    conv = vc.load(trained_ckpt, device="cpu")
    with pytest.raises(ConfigError, match="available domains"):
        conv(src, target="nobody")
    with pytest.raises(AudioError, match="nothing.wav"):
        conv(src.parent / "nothing.wav", target="low")
    with pytest.raises(CheckpointError):
        vc.load(src.parent / "no.pt")
