"""recipes/tibetan/local/cut_words.py: sentences in, word-length clips out (the README's Figures corpus)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
from synth import speech_like

SCRIPT = Path(__file__).resolve().parents[1] / "recipes" / "tibetan" / "local" / "cut_words.py"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120)


def test_cuts_at_pauses_and_splits_long_stretches(tmp_path):
    sr = 16000
    pause = np.zeros(int(0.3 * sr), dtype=np.float32)
    # A 0.5 s word, a 3 s stretch with no pause, a 0.1 s click: one clip, then the stretch in pieces
    # of 0.3-1.2 s, and the click dropped.
    word = speech_like(seconds=0.5, lead_silence=0.0, seed=1)
    stretch = speech_like(seconds=3.0, lead_silence=0.0, syllable=0.15, seed=2)
    click = speech_like(seconds=0.1, lead_silence=0.0, seed=3)
    sentence = np.concatenate([pause, word, pause, stretch, pause, click, pause])
    speaker = tmp_path / "src" / "spk1"
    speaker.mkdir(parents=True)
    sf.write(speaker / "s01.wav", sentence, sr)

    proc = run("--out", str(tmp_path / "out"), str(speaker))
    assert proc.returncode == 0, proc.stderr
    clips = sorted((tmp_path / "out" / "spk1").glob("s01_w*.wav"))
    seconds = [sf.info(c).duration for c in clips]
    assert len(clips) >= 1 + 3, seconds  # 3 s cannot be cut into fewer than three pieces of <= 1.2 s
    assert abs(seconds[0] - 0.5) < 0.1, seconds  # the word, with a little of the pause either side
    assert all(0.3 - 1e-6 <= s <= 1.2 + 0.07 for s in seconds), seconds  # + the kept pause edges
    assert abs(sum(seconds[1:]) - 3.0) < 0.15, seconds  # the stretch's pieces cover it, no overlap
    assert "1 stretches under 0.3 s dropped" in proc.stdout
    for c in clips:
        assert sf.info(c).samplerate == sr and sf.info(c).subtype == "PCM_16"


def test_help_and_bad_input(tmp_path):
    assert run("--help").returncode == 0
    (tmp_path / "empty").mkdir()
    proc = run("--out", str(tmp_path / "out"), str(tmp_path / "empty"))
    assert proc.returncode == 2 and "not a folder of wav or flac files" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = run("--out", str(tmp_path / "out"), str(tmp_path / "missing"))
    assert proc.returncode == 2 and "missing: not a folder" in proc.stderr
    proc = run("--out", str(tmp_path / "out"), "--min", "0.8", "--max", "1.2", str(tmp_path / "empty"))
    assert proc.returncode == 2 and "at least twice --min" in proc.stderr
