"""Remake ``docs/ui.png``, the README's picture of the web page (``vc-ui``).

    python docs/make_ui_screenshot.py

Runs the browser test (``tests/test_ui.py::test_browser_converts``: headless Chromium converts a
generated clip with the suite's tiny checkpoint) with ``VC_UI_SCREENSHOT`` set, so the picture is
exactly what the test saw, then reduces it to a 256-colour PNG so it stays small enough to commit.
Needs ``.[dev]`` (gradio, selenium) and Debian's chromium and chromium-driver.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "ui.png"


def main() -> int:
    from PIL import Image  # comes with gradio

    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "ui.png"
        env = {**os.environ, "VC_UI_SCREENSHOT": str(raw)}
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
               "tests/test_ui.py::test_browser_converts"]
        done = subprocess.run(cmd, cwd=ROOT, env=env)
        if done.returncode != 0 or not raw.exists():
            print("error: the browser test did not produce a screenshot (see its output above)", file=sys.stderr)
            return 1
        img = Image.open(raw).convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
        img.save(OUT, optimize=True)
    print(f"{OUT.relative_to(ROOT)}: {img.width}x{img.height}, {OUT.stat().st_size / 1024:.0f} kB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
