"""What the espeak-ng recipes share: the sentences every voice reads and one sentence to a clip.

Used by ``recipes/mini/local/make_corpus.py`` and ``recipes/voices/local/make_voices.py``, which put
this folder on ``sys.path``::

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "utils"))
    from espeak_corpus import SENTENCES, render

The sentences were composed for these recipes, in the style of the Harvard sentences.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import soundfile as sf

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

INSTALL_HINT = "install it (Debian/Ubuntu: sudo apt-get install espeak-ng, macOS: brew install espeak-ng)"


def read_marker(marker: Path) -> dict | None:
    """The settings a finished corpus recorded in its ``corpus.json``; None when absent or unreadable."""
    if not marker.is_file():
        return None
    try:
        return json.loads(marker.read_text())
    except json.JSONDecodeError:
        return None


def require_espeak(alternative: str = "") -> None:
    """Exit with one line (``SystemExit``) when espeak-ng is not on PATH; ``alternative`` ends it."""
    if shutil.which("espeak-ng") is None:
        raise SystemExit(f"error: espeak-ng not found; {INSTALL_HINT}{alternative}")


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


def render(text: str, voice: str, pitch: int, speed: int, sr: int, seed: int, workdir: Path) -> np.ndarray:
    """One sentence as a corpus clip: synthesised, resampled to ``sr``, peak-normalised to ``PEAK``,
    with the noise floor drawn from ``seed``. Returns ``(T,)`` float32."""
    wav, native = synthesize(text, voice, pitch, speed, workdir)
    if native != sr:
        import librosa  # slow to import: only when needed

        wav = librosa.resample(wav, orig_sr=native, target_sr=sr)
    wav = PEAK * wav / max(float(np.abs(wav).max()), 1e-9)
    rng = np.random.default_rng(seed)
    return (wav + NOISE_FLOOR * rng.standard_normal(len(wav))).astype(np.float32)


def write_clip(folder: Path, utt: str, wav: np.ndarray, sr: int, text: str) -> None:
    """``<folder>/<utt>.wav`` (16-bit PCM) and its transcript ``<folder>/<utt>.txt``."""
    sf.write(str(folder / f"{utt}.wav"), wav, sr, subtype="PCM_16")
    (folder / f"{utt}.txt").write_text(text + "\n", encoding="utf-8")
