#!/usr/bin/env python3
"""Generate the mini demo corpus: a few clearly different English voices synthesised with espeak-ng.

    python local/make_corpus.py --out data/mini --sr 16000 [--sentences 60] [--voices 4]

writes ``<out>/<voice>/<voice>_NNN.wav`` with a sibling ``.txt`` transcript (the layout ``data.format:
generic`` reads) and ``<out>/corpus.json`` describing what was generated. Every voice reads the same
sentences (``recipes/utils/espeak_corpus.py``, composed in the style of the Harvard sentences). The
corpus is deterministic; a second run with the same settings does nothing, and different settings
regenerate it.

Voices differ in accent (espeak-ng language), voice variant (formant set), pitch and speaking rate:

=======  ====================  =====  =====  ======================================
name     espeak-ng voice       pitch  speed  sounds like
=======  ====================  =====  =====  ======================================
adam     en-us+m3              25     145    low US male, ~85 Hz
bruce    en-gb-scotland+m7     60     160    Scottish male, ~115 Hz, dark timbre
clara    en+f2                 45     165    British female, ~185 Hz
daisy    en-us+f4              75     180    high US female, ~235 Hz, fast
=======  ====================  =====  =====  ======================================
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "utils"))
from espeak_corpus import NOISE_FLOOR, PEAK, SENTENCES, read_marker, render, require_espeak, write_clip  # noqa: E402

VOICES: dict[str, tuple[str, int, int]] = {
    # name: (espeak-ng voice+variant, pitch 0-99, words per minute)
    "adam": ("en-us+m3", 25, 145),
    "bruce": ("en-gb-scotland+m7", 60, 160),
    "clara": ("en+f2", 45, 165),
    "daisy": ("en-us+f4", 75, 180),
}

def make_corpus(out: Path, sr: int, n_sentences: int, n_voices: int) -> int:
    """Write the corpus (see the module docstring); returns the number of clips written."""
    if not 1 <= n_sentences <= len(SENTENCES):
        raise SystemExit(f"error: --sentences must be between 1 and {len(SENTENCES)}, got {n_sentences}")
    if not 2 <= n_voices <= len(VOICES):
        raise SystemExit(f"error: --voices must be between 2 and {len(VOICES)}, got {n_voices}")
    voices = dict(list(VOICES.items())[:n_voices])
    settings = {"sample_rate": sr, "sentences": n_sentences, "voices": voices, "peak": PEAK, "noise": NOISE_FLOOR}
    settings = json.loads(json.dumps(settings))  # as corpus.json holds it (tuples become lists)
    marker = out / "corpus.json"
    if read_marker(marker) == settings:
        print(f"corpus {out} already generated ({n_voices} voices x {n_sentences} sentences at {sr} Hz)")
        return 0
    require_espeak(" or run `make demo`, which tries to")
    # Start clean: a half-written corpus from an interrupted run must not mix with this one.
    marker.unlink(missing_ok=True)
    for name in VOICES:
        shutil.rmtree(out / name, ignore_errors=True)
    written = 0
    with tempfile.TemporaryDirectory() as tmp:
        for v_i, (name, (voice, pitch, speed)) in enumerate(voices.items()):
            (out / name).mkdir(parents=True, exist_ok=True)
            for i, text in enumerate(SENTENCES[:n_sentences]):
                wav = render(text, voice, pitch, speed, sr, 1000 * v_i + i, Path(tmp))
                write_clip(out / name, f"{name}_{i + 1:03d}", wav, sr, text)
                written += 1
    marker.write_text(json.dumps(settings, indent=1) + "\n")
    print(f"generated {written} clips ({n_voices} voices x {n_sentences} sentences at {sr} Hz) in {out}")
    return written


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="corpus folder to write (data.root of the config)")
    p.add_argument("--sr", type=int, required=True, help="sampling rate to write (features.sample_rate)")
    p.add_argument("--sentences", type=int, default=len(SENTENCES), help="sentences per voice (default: all 60)")
    p.add_argument("--voices", type=int, default=len(VOICES), help="number of voices (default: all 4)")
    args = p.parse_args(argv)
    make_corpus(Path(args.out), args.sr, args.sentences, args.voices)
    return 0


if __name__ == "__main__":
    sys.exit(main())
