"""recipes/voices/local/make_voices.py: the any-to-any recipe's espeak-ng voice bank.

A bank of 4 training voices and 1 unseen voice x 2 sentences: its layout and marker, a second run
that does nothing, byte-identical regeneration, clean regeneration when the settings change, linked
real speakers, and voices that differ measurably (median F0 of a low male and a female voice).
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from synth import speech_like

SCRIPT = Path(__file__).resolve().parents[1] / "recipes" / "voices" / "local" / "make_voices.py"
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                  reason="espeak-ng is not installed (apt-get install espeak-ng)")


@pytest.fixture(scope="module")
def mv():
    """The generator as a module (in-process: librosa is imported once for all tests)."""
    spec = importlib.util.spec_from_file_location("make_voices", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bank(mv, tmp_path_factory) -> Path:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    out = tmp_path_factory.mktemp("voices") / "bank"
    assert mv.make_voices(out, 16000, n_sentences=2, n_voices=4, n_unseen=1) == 10
    return out


def wavs(folder: Path) -> list[Path]:
    return sorted(folder.glob("*/*.wav"))


def median_f0(path: Path) -> float:
    import pyworld

    wav, sr = sf.read(path)
    f0, t = pyworld.dio(wav, sr, f0_floor=50.0, f0_ceil=500.0, frame_period=5.0)
    f0 = pyworld.stonemask(wav, f0, t, sr)
    return float(np.median(f0[f0 > 0]))


def test_table(mv):
    voices = mv.TRAIN + mv.UNSEEN
    assert len(mv.TRAIN) == 32 and len(mv.UNSEEN) == 8
    assert len({v.name for v in voices}) == len(voices) and len({v[1:4] for v in voices}) == len(voices)
    assert all(20 <= v.pitch <= 85 and 130 <= v.speed <= 190 and v.sex in "MF" for v in voices)
    # espeak-ng 1.51 ignores the variant of en-gb+<variant>: British voices must be en+<variant>.
    assert not any(v.espeak.startswith("en-gb+") for v in voices)
    # Small banks stay varied: both sexes among the first 4 training and the first 2 unseen voices.
    assert {v.sex for v in mv.TRAIN[:4]} == {"M", "F"} and {v.sex for v in mv.UNSEEN[:2]} == {"M", "F"}


@needs_espeak
def test_layout_and_marker(bank):
    train, unseen = ["us-m3", "scot-m7", "gb-f2", "us-f4"], ["us-andy"]
    assert sorted(p.name for p in bank.iterdir() if p.is_dir()) == sorted(train)
    assert [p.name for p in (bank.parent / "bank_unseen").iterdir()] == unseen
    for voice, folder in [(v, bank) for v in train] + [(v, bank.parent / "bank_unseen") for v in unseen]:
        for n in (1, 2):
            wav = folder / voice / f"{voice}_{n:03d}.wav"
            info = sf.info(wav)
            assert info.samplerate == 16000 and info.subtype == "PCM_16" and info.duration > 1.0
            assert wav.with_suffix(".txt").read_text().strip()
    marker = json.loads((bank / "corpus.json").read_text())
    assert list(marker["voices"]) == train and list(marker["unseen"]) == unseen
    assert marker["unseen"]["us-andy"] == ["en-us+Andy", 45, 160] and marker["unseen_dir"] == "../bank_unseen"


@needs_espeak
def test_second_run_does_nothing_and_regeneration_is_identical(mv, bank, tmp_path, capsys):
    before = {p: p.stat().st_mtime_ns for p in wavs(bank)}
    assert mv.make_voices(bank, 16000, n_sentences=2, n_voices=4, n_unseen=1) == 0
    assert "already generated" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in wavs(bank)} == before
    # A fresh bank with the same settings is the same bytes (noise floor included).
    other = tmp_path / "other"
    mv.make_voices(other, 16000, n_sentences=2, n_voices=4, n_unseen=1)
    for a, b in zip(wavs(bank), wavs(other), strict=True):
        assert a.relative_to(bank) == b.relative_to(other) and a.read_bytes() == b.read_bytes()
    assert (bank.parent / "bank_unseen" / "us-andy" / "us-andy_001.wav").read_bytes() == \
        (tmp_path / "other_unseen" / "us-andy" / "us-andy_001.wav").read_bytes()


@needs_espeak
def test_voices_measurably_different(bank):
    low_male = np.median([median_f0(p) for p in sorted((bank / "us-m3").glob("*.wav"))])
    female = np.median([median_f0(p) for p in sorted((bank / "gb-f2").glob("*.wav"))])
    high_female = np.median([median_f0(p) for p in sorted((bank / "us-f4").glob("*.wav"))])
    assert low_male < 100 < 160 < female < high_female, (low_male, female, high_female)
    assert female / low_male > 1.8 and high_female / female > 1.15


@needs_espeak
def test_changed_settings_regenerate_cleanly_and_real_speakers_link(mv, tmp_path, capsys):
    real = tmp_path / "real"
    (real / "spk1").mkdir(parents=True)
    for stem in ("spk1_001", "b"):
        sf.write(real / "spk1" / f"{stem}.wav", speech_like(0.5, 16000, f0=150, seed=1), 16000)
    (real / "transcripts.tsv").write_text("utt_id\ttext\nspk1_001\tHello there.\n")
    out = tmp_path / "bank"
    mv.make_voices(out, 16000, n_sentences=2, n_voices=2, n_unseen=0, real_from=[real])
    assert (out / "spk1" / "spk1_001.wav").is_symlink() and (out / "spk1" / "spk1_b.wav").is_symlink()
    assert (out / "spk1" / "spk1_001.txt").read_text().strip() == "Hello there."
    assert json.loads((out / "corpus.json").read_text())["real"] == {"spk1": str((real / "spk1").resolve())}
    assert mv.make_voices(out, 16000, n_sentences=2, n_voices=2, n_unseen=0, real_from=[real]) == 0
    # Fewer sentences and no real speakers: the stale clips and the links are gone, the real files kept.
    assert mv.make_voices(out, 16000, n_sentences=1, n_voices=2, n_unseen=0) == 2
    assert [p.name for p in wavs(out)] == ["scot-m7_001.wav", "us-m3_001.wav"]
    assert (real / "spk1" / "b.wav").is_file()
    # A clip deleted by hand is noticed: the bank is regenerated, not reported complete.
    (out / "us-m3" / "us-m3_001.wav").unlink()
    assert mv.make_voices(out, 16000, n_sentences=1, n_voices=2, n_unseen=0) == 2
    assert (out / "us-m3" / "us-m3_001.wav").is_file()
    capsys.readouterr()


def test_cli_errors(tmp_path):
    def run(*args: str, path: str | None = None) -> subprocess.CompletedProcess:
        env = {"PATH": path} if path is not None else None
        return subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path / "bank"), "--sr", "16000", *args],
                              capture_output=True, text=True, timeout=60, env=env)

    proc = run("--voices", "40")
    assert proc.returncode != 0 and "--voices must be between 2 and 32" in proc.stderr
    proc = run("--voices", "2", "--sentences", "1", path=str(tmp_path))  # no espeak-ng on this PATH
    assert proc.returncode != 0 and "error: espeak-ng not found" in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "bank").exists()
