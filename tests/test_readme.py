"""The README's Python example runs as written (against a tiny checkpoint)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import soundfile as sf
from synth import speech_like

README = Path(__file__).resolve().parents[1] / "README.md"


def _api_example() -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(r"<!-- api-example[^>]*-->\s*```python\n(.*?)```", text, re.S)
    assert match, "README lost its marked Python API example"
    return match.group(1)


def test_readme_api_example_runs(trained_ckpt, tmp_path, monkeypatch):
    code = _api_example()
    # The tiny checkpoint's domains are high/low/mid; the README speaks of VCTK's p225.
    code = code.replace('"p225"', '"high"')
    sf.write(tmp_path / "a.wav", speech_like(1.0, 16000, f0=120, seed=1), 16000)
    sf.write(tmp_path / "sample.wav", speech_like(1.0, 16000, f0=220, seed=2), 16000)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VC_CKPT", str(trained_ckpt))
    exec(compile(code, str(README), "exec"), {"__name__": "__readme__"})
    assert (tmp_path / "a_to_p225.wav").is_file() and (tmp_path / "a_like_sample.wav").is_file()


def test_readme_commands_exist():
    """Every console script the README uses is declared in setup.cfg."""
    text = README.read_text(encoding="utf-8")
    setup = (README.parent / "setup.cfg").read_text(encoding="utf-8")
    used = set(re.findall(r"\b(vc-[a-z-]+)\b", text))
    declared = set(re.findall(r"^\s+(vc-[a-z-]+) = ", setup, re.M))
    assert used <= declared, f"README mentions undeclared commands: {sorted(used - declared)}"
    assert shutil.which("vc-convert"), "the package is not installed in this environment"
