#!/usr/bin/env python3
"""Generate the mini demo corpus: a few clearly different English voices synthesised with espeak-ng.

    python local/make_corpus.py --out data/mini --sr 16000 [--sentences 60] [--voices 4]

writes ``<out>/<voice>/<voice>_NNN.wav`` with a sibling ``.txt`` transcript (the layout ``data.format:
generic`` reads) and ``<out>/corpus.json`` describing what was generated. Every voice reads the same
sentences (composed for this recipe, in the style of the Harvard sentences). The corpus is
deterministic; a second run with the same settings does nothing, and different settings regenerate it.

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
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

VOICES: dict[str, tuple[str, int, int]] = {
    # name: (espeak-ng voice+variant, pitch 0-99, words per minute)
    "adam": ("en-us+m3", 25, 145),
    "bruce": ("en-gb-scotland+m7", 60, 160),
    "clara": ("en+f2", 45, 165),
    "daisy": ("en-us+f4", 75, 180),
}

SENTENCES = [
    "The red kite drifted high above the quiet harbour.",
    "A warm loaf of bread sat cooling on the window sill.",
    "She tied the small boat to the post with a frayed rope.",
    "The old clock in the hall struck nine before we left.",
    "Bright leaves fell on the path behind the school.",
    "He poured cold milk into a chipped blue mug.",
    "The farmer stacked the hay in neat rows by the barn.",
    "A sudden gust blew the map across the wet deck.",
    "Fresh paint dries slowly when the air is damp.",
    "The children counted stars until the fire burned low.",
    "Her brother fixed the gate with two rusty nails.",
    "We walked along the river to the stone bridge.",
    "The baker sold every cake before noon.",
    "A thin line of smoke rose from the chimney.",
    "The dog chased its tail around the kitchen table.",
    "Heavy rain kept the crowd away from the fair.",
    "The pilot checked the gauges before take off.",
    "Six green apples rolled under the garden bench.",
    "The lamp threw long shadows on the white wall.",
    "They found a silver coin buried in the sand.",
    "The teacher wrote the date in large chalk letters.",
    "A narrow lane led up the hill to the chapel.",
    "The kettle whistled while we set the plates.",
    "Thick fog hid the ships waiting outside the bay.",
    "He kept his tools in a wooden box under the stairs.",
    "The soup tasted better with a pinch of salt.",
    "Our neighbour grows tall sunflowers near the fence.",
    "The train rattled past fields of golden wheat.",
    "She sang softly to calm the crying baby.",
    "A loose shutter banged all night in the wind.",
    "The market opens early on the first day of spring.",
    "Pale moonlight crept across the frozen pond.",
    "The clerk stamped each letter with the same red ink.",
    "Fine sand slipped through the gaps in his fingers.",
    "The horse drank deeply from the trough by the gate.",
    "We packed cheese, grapes and bread for the long walk.",
    "The choir practised the hymn three times that evening.",
    "A bright yellow van parked outside the post office.",
    "The boy lost his cap while climbing the oak tree.",
    "Cool water flowed over the smooth grey pebbles.",
    "The captain read the weather report aloud.",
    "Dry twigs crackle loudly under heavy boots.",
    "The museum keeps a model ship in a glass case.",
    "Her voice carried clearly across the empty hall.",
    "The carpenter measured the plank twice before cutting.",
    "A flock of geese flew south over the marsh.",
    "The bus was late because of the snow on the road.",
    "Ripe plums hung low on the branches of the tree.",
    "The nurse smiled and handed him a glass of water.",
    "Dust covered the books on the highest shelf.",
    "The fisherman mended his net beside the harbour wall.",
    "A sharp knife makes the work much easier.",
    "The path through the woods was soft with moss.",
    "They painted the front door a deep shade of green.",
    "The wind carried the scent of pine across the valley.",
    "Two owls called to each other in the dark.",
    "The cook stirred the stew with a long wooden spoon.",
    "A small bell rang when the shop door opened.",
    "The students left their bags by the library steps.",
    "Warm sunlight filled the room after the storm.",
]

PEAK = 0.7
NOISE_FLOOR = 3e-4
"""espeak-ng writes digital silence between words; a faint deterministic noise floor keeps WORLD's
log spectra finite there (real recordings always have one)."""


def synthesize(text: str, voice: str, pitch: int, speed: int, workdir: Path) -> tuple[np.ndarray, int]:
    """One sentence through espeak-ng; returns ``(wav (T,) float32, sample rate)``."""
    out = workdir / "tmp.wav"
    cmd = ["espeak-ng", "-v", voice, "-p", str(pitch), "-s", str(speed), "-w", str(out), text]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0 or not out.is_file():
        raise SystemExit(f"error: espeak-ng failed for voice {voice}: {proc.stderr.strip() or proc.returncode}")
    wav, sr = sf.read(str(out), dtype="float32")
    if wav.ndim > 1:
        wav = wav.mean(axis=1)
    return wav, sr


def make_corpus(out: Path, sr: int, n_sentences: int, n_voices: int) -> int:
    """Write the corpus (see the module docstring); returns the number of clips written."""
    import librosa

    if not 1 <= n_sentences <= len(SENTENCES):
        raise SystemExit(f"error: --sentences must be between 1 and {len(SENTENCES)}, got {n_sentences}")
    if not 2 <= n_voices <= len(VOICES):
        raise SystemExit(f"error: --voices must be between 2 and {len(VOICES)}, got {n_voices}")
    voices = dict(list(VOICES.items())[:n_voices])
    settings = {"sample_rate": sr, "sentences": n_sentences, "voices": voices, "peak": PEAK, "noise": NOISE_FLOOR}
    settings = json.loads(json.dumps(settings))  # as corpus.json holds it (tuples become lists)
    marker = out / "corpus.json"
    if marker.is_file():
        try:
            done = json.loads(marker.read_text())
        except json.JSONDecodeError:
            done = None
        if done == settings:
            print(f"corpus {out} already generated ({n_voices} voices x {n_sentences} sentences at {sr} Hz)")
            return 0
    if shutil.which("espeak-ng") is None:
        raise SystemExit(
            "error: espeak-ng not found; install it (Debian/Ubuntu: sudo apt-get install espeak-ng, "
            "macOS: brew install espeak-ng) or run `make demo`, which tries to"
        )
    # Start clean: a half-written corpus from an interrupted run must not mix with this one.
    marker.unlink(missing_ok=True)
    for name in VOICES:
        shutil.rmtree(out / name, ignore_errors=True)
    written = 0
    with tempfile.TemporaryDirectory() as tmp:
        for v_i, (name, (voice, pitch, speed)) in enumerate(voices.items()):
            (out / name).mkdir(parents=True, exist_ok=True)
            for i, text in enumerate(SENTENCES[:n_sentences]):
                wav, native = synthesize(text, voice, pitch, speed, Path(tmp))
                if native != sr:
                    wav = librosa.resample(wav, orig_sr=native, target_sr=sr)
                wav = PEAK * wav / max(float(np.abs(wav).max()), 1e-9)
                rng = np.random.default_rng(1000 * v_i + i)
                wav = (wav + NOISE_FLOOR * rng.standard_normal(len(wav))).astype(np.float32)
                utt = f"{name}_{i + 1:03d}"
                sf.write(str(out / name / f"{utt}.wav"), wav, sr, subtype="PCM_16")
                (out / name / f"{utt}.txt").write_text(text + "\n", encoding="utf-8")
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
