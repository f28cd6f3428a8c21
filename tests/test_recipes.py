"""Every recipe's run.sh, end to end, with its conf.debug.yaml on generated audio.

Each test copies recipes/ into a temporary folder (run.sh writes data/, dump/ and exp/ beside itself)
and runs all stages through the real console scripts: data, vc-prep, (no vocoder), vc-train, the
converted samples and vc-eval's report. The mini demo needs espeak-ng and is skipped without it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from synth import make_corpus, speech_like

REPO = Path(__file__).resolve().parents[1]
# The console scripts of the interpreter running the tests come first on PATH, as run.sh expects.
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}

pytestmark = pytest.mark.slow


@pytest.fixture
def recipes(tmp_path) -> Path:
    """A scratch copy of recipes/ without any earlier run's outputs."""
    dest = tmp_path / "recipes"
    shutil.copytree(REPO / "recipes", dest, ignore=shutil.ignore_patterns("data", "dump", "exp", "__pycache__"))
    return dest


def run_sh(script: Path, *args: str, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(["bash", str(script), *args], env={**ENV, **(env or {})}, capture_output=True,
                          text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"{script} {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def check_outputs(exp: Path, domains: list[str], per_domain: int) -> dict:
    """A checkpoint, every test utterance converted to every other domain, and the report."""
    assert sorted(exp.glob("checkpoints/step_*.pt")), "no checkpoint"
    converted = sorted(exp.glob("samples/*/to_*.wav"))
    assert len(converted) == len(domains) * per_domain * (len(domains) - 1), converted
    for wav in converted:
        audio, sr = sf.read(wav)
        assert sr == 16000 and len(audio) > 0.1 * sr and np.isfinite(audio).all() and np.abs(audio).max() > 1e-3
    assert len(list(exp.glob("samples/*/source.*"))) == len(domains) * per_domain
    assert (exp / "eval" / "report.html").is_file()
    scores = json.loads((exp / "eval" / "scores.json").read_text())
    assert "domain acc" in (exp / "eval" / "headline.txt").read_text()
    return scores


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed (apt-get install espeak-ng)")
def test_mini(recipes):
    mini = recipes / "mini"
    proc = run_sh(mini / "run.sh", "--conf", "conf.debug.yaml", "--sentences", "5", "--voices", "3")
    wavs = sorted((mini / "data" / "mini_debug").glob("*/*.wav"))
    assert len(wavs) == 15 and {w.parent.name for w in wavs} == {"adam", "bruce", "clara"}
    assert sf.info(wavs[0]).samplerate == 16000 and (wavs[0].with_suffix(".txt")).read_text().strip()
    check_outputs(mini / "exp" / "mini_debug", ["adam", "bruce", "clara"], per_domain=1)
    assert "report:" in proc.stdout and "headline:" in proc.stdout and "by pair:" in proc.stdout
    # conf.debug.yaml has conf.yaml's silence gate: the statistical conversion through it is weighed too
    assert "gated baseline:  vs statistical_gated baseline: " in proc.stdout

    # Afterwards vc-convert works without --ckpt (the newest checkpoint under ./exp/).
    out = mini / "converted.wav"
    conv = subprocess.run(["vc-convert", "--src", str(wavs[0]), "--target", "clara", "--out", str(out)], cwd=mini,
                          env=ENV, capture_output=True, text=True, timeout=300)
    assert conv.returncode == 0, conv.stderr
    assert sf.info(out).frames == pytest.approx(sf.info(wavs[0]).frames, abs=1)

    # A second run of the corpus stage finds the corpus already there.
    again = run_sh(mini / "run.sh", "--conf", "conf.debug.yaml", "--sentences", "5", "--voices", "3",
                   "--stop-stage", "0")
    assert "already generated" in again.stdout


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed (apt-get install espeak-ng)")
def test_voices_any_to_any(recipes):
    pytest.importorskip("resemblyzer")  # stage 6 scores with the independent speaker encoder
    voices = recipes / "voices"
    proc = run_sh(voices / "run.sh", "--conf", "conf.debug.yaml", "--voices", "3", "--unseen", "1",
                  "--sentences", "4", "--real-refs", "false", "--set", "eval.targets=[]")
    train_voices = sorted(p.name for p in (voices / "data" / "voices_debug").iterdir() if p.is_dir())
    assert len(train_voices) == 3
    unseen = sorted(p.name for p in (voices / "data" / "voices_debug_unseen").iterdir() if p.is_dir())
    assert len(unseen) == 1 and unseen[0] not in train_voices
    exp = voices / "exp" / "voices_debug"
    check_outputs(exp, train_voices, per_domain=1)
    scores = json.loads((exp / "eval" / "unseen_espeak" / "scores.json").read_text())
    assert scores["any_to_any"] and scores["n_speakers"] == 1 and scores["n_conversions"] == 3
    assert "unseen voices: 3 conversions to 1 speakers" in proc.stdout


def test_vctk_partial_tree(recipes, tmp_path):
    vctk = recipes / "vctk"
    # VCTK 0.92 layout with 3 of the config's 4 speakers: p227 is missing and must be skipped.
    voices = {"p225": dict(f0=210.0, tilt=2.0, formant_shift=1.1), "p226": dict(f0=105.0, tilt=-3.0),
              "p228": dict(f0=180.0, tilt=0.0)}
    root = make_corpus(tmp_path / "VCTK-Corpus-0.92", "vctk092", voices, n_per_domain=4, seconds=1.0)

    missing = run_sh(vctk / "run.sh", "--conf", "conf.debug.yaml", "--stop-stage", "0", env={"VCTK_ROOT": ""},
                     check=False)
    assert missing.returncode == 2 and "set VCTK_ROOT" in missing.stderr

    proc = run_sh(vctk / "run.sh", "--conf", "conf.debug.yaml", env={"VCTK_ROOT": str(root)})
    assert "VCTK 0.92" in proc.stderr
    assert "p227 not found" in proc.stderr and "skipped" in proc.stderr
    dump = vctk / "dump" / "vctk_debug"
    assert json.loads((dump / "domains.json").read_text())["domains"] == ["p225", "p228", "p226"]  # config order
    assert all("_mic1.flac" in line for line in (dump / "manifest" / "all.tsv").read_text().splitlines()[1:])
    check_outputs(vctk / "exp" / "vctk_debug", ["p225", "p228", "p226"], per_domain=1)


def test_tibetan_short_clips_dialects(recipes, tmp_path):
    tibetan = recipes / "tibetan"
    # Two speakers per dialect, single-word clips of 0.4-0.8 s; the dialect map makes 3 domains. The
    # speaker folders are symbolic links into another tree, which stage 0 must count as vc-prep reads them.
    store, root = tmp_path / "store", tmp_path / "tibetan"
    voices = {"lhasa_a": dict(f0=120.0), "lhasa_b": dict(f0=135.0), "derge_a": dict(f0=200.0, tilt=3.0),
              "derge_b": dict(f0=220.0, tilt=3.0), "xining_a": dict(f0=95.0, tilt=-4.0),
              "xining_b": dict(f0=105.0, tilt=-4.0)}
    lengths = []
    for s_i, (speaker, params) in enumerate(voices.items()):
        for i in range(3):
            seconds = 0.4 + 0.2 * i  # 0.4, 0.6, 0.8 s
            wav = speech_like(seconds=seconds, lead_silence=0.05, syllable=0.15, seed=10 * s_i + i, **params)
            (store / speaker).mkdir(parents=True, exist_ok=True)
            sf.write(store / speaker / f"{speaker}_{i}.wav", wav, 16000)
            lengths.append(len(wav))
        root.mkdir(exist_ok=True)
        (root / speaker).symlink_to(store / speaker, target_is_directory=True)
    dialects = tmp_path / "dialects.tsv"
    dialects.write_text("# speaker\tdialect\nlhasa_a\tÜ-Tsang\nlhasa_b\tÜ-Tsang\nderge_a\tKham\nderge_b\tKham\n"
                        "xining_a\tAmdo\nxining_b\tAmdo\n", encoding="utf-8")

    proc = run_sh(tibetan / "run.sh", "--conf", "conf.debug.yaml", "--dialects", str(dialects),
                  env={"TIBETAN_ROOT": str(root)})
    assert "dialect map" in proc.stderr
    counted = f"corpus folder {root}: 18 audio files in 6 label folders; per domain: Amdo 6, Kham 6, Ü-Tsang 6"
    assert counted in proc.stderr
    assert "config: conf.debug.yaml" in proc.stderr
    dump = tibetan / "dump" / "tibetan_debug"
    assert json.loads((dump / "domains.json").read_text())["domains"] == ["Amdo", "Kham", "Ü-Tsang"]
    assert not (dump / "rejected.tsv").read_text().splitlines()[1:], "a short clip was rejected"
    check_outputs(tibetan / "exp" / "tibetan_debug", ["Amdo", "Kham", "Ü-Tsang"], per_domain=1)
    for wav in (tibetan / "exp" / "tibetan_debug" / "samples").glob("*/to_*.wav"):
        assert sf.info(wav).duration < 0.85  # a word in, a word out: the tiling is not in the output

    # A list file instead of a folder switches the corpus format by itself.
    listing = tmp_path / "list.txt"
    listing.write_text("".join(f"{p}|{p.parent.name}\n" for p in sorted(root.glob("*/*.wav"))), encoding="utf-8")
    stage0 = run_sh(tibetan / "run.sh", "--conf", "conf.debug.yaml", "--stop-stage", "0",
                    env={"TIBETAN_ROOT": str(listing)})
    assert "list file" in stage0.stderr and "18 entries" in stage0.stderr


def test_every_recipe_config_loads_and_builds(monkeypatch):
    """Each recipe's configs are valid for this version: every key known, every family buildable."""
    from vc.config import load_config
    from vc.models import get_family

    monkeypatch.setenv("VCTK_ROOT", "/nonexistent")
    monkeypatch.setenv("TIBETAN_ROOT", "/nonexistent")
    confs = sorted(REPO.glob("recipes/*/conf*.yaml"))
    assert len(confs) >= 8
    for conf in confs:
        cfg = load_config(conf)
        nets = get_family(cfg.model.name).build(cfg, cfg.features.dim, 3)
        assert nets, conf
