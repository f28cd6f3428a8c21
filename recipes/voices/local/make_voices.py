#!/usr/bin/env python3
"""Generate the voice bank of the any-to-any recipe: many clearly different espeak-ng voices, some held out.

    python local/make_voices.py --out data/voices --sr 16000 [--sentences 40] [--voices 32] [--unseen 8]
                                [--unseen-out data/voices_unseen] [--real-from DIR ...]

writes the training voices as ``<out>/<voice>/<voice>_NNN.wav`` with a sibling ``.txt`` transcript
(the layout ``data.format: generic`` reads) and the held-out voices, the same way, under
``--unseen-out`` (default: ``<out>_unseen``), a folder for ``vc-eval --refs``: speakers the model
never trains on. ``<out>/corpus.json`` records what was generated, the unseen voices included. Every
voice reads the same sentences (``recipes/utils/espeak_corpus.py``). The bank is deterministic; a
second run with the same settings does nothing, and different settings regenerate it from scratch.

``--voices N`` takes the first N rows of the training table and ``--unseen N`` the first N of the
unseen table, so a small bank is still varied (the first four training voices are the mini demo's:
low and higher male, female, high female; the unseen voices alternate male and female). Voices
differ in accent (espeak-ng language: English accents, and other languages reading the English
text), voice variant (formant set and glottal source, ``+m1``.. ``+f5``, Klatt and named variants),
pitch (``-p``, 20-85) and speed (``-s``, words per minute). The median F0 below was measured with
WORLD's dio on three sentences; names are ``<accent>-<variant>``.

Training voices:

==========  ====================  =====  =====  ===  ======  =====================================
name        espeak-ng voice       pitch  speed  sex  F0 Hz   accent
==========  ====================  =====  =====  ===  ======  =====================================
us-m3       en-us+m3              25     145    M    83      US
scot-m7     en-gb-scotland+m7     60     160    M    116     Scottish
gb-f2       en+f2                 45     165    F    185     British
us-f4       en-us+f4              75     180    F    234     US
rp-m1       en-gb-x-rp+m1         35     150    M    80      Received Pronunciation
car-f1      en-029+f1             55     170    F    189     Caribbean
nyc-m2      en-us-nyc+m2          50     175    M    100     New York
wmid-f3     en-gb-x-gbcwmd+f3     40     155    F    196     West Midlands
lanc-m4     en-gb-x-gbclan+m4     70     160    M    113     Lancaster
de-f5       de+f5                 65     150    F    235     German (reading English)
fr-m5       fr+m5                 30     165    M    85      French (reading English)
es-f4       es+f4                 85     175    F    264     Spanish (reading English)
it-m6       it+m6                 45     170    M    93      Italian (reading English)
nl-f2       nl+f2                 30     160    F    164     Dutch (reading English)
pl-m7       pl+m7                 20     150    M    86      Polish (reading English)
us-klatt    en-us+klatt           45     155    M    95      US, Klatt synthesiser
gb-klatt3   en+klatt3             65     145    M    117     British, Klatt synthesiser
scot-f3     en-gb-scotland+f3     70     150    F    251     Scottish
rp-f5       en-gb-x-rp+f5         50     185    F    204     Received Pronunciation
car-m2      en-029+m2             75     140    M    133     Caribbean
nyc-f1      en-us-nyc+f1          80     165    F    243     New York
wmid-m5     en-gb-x-gbcwmd+m5     55     170    M    108     West Midlands
lanc-f4     en-gb-x-gbclan+f4     35     180    F    154     Lancaster
pt-m4       pt+m4                 45     155    M    91      Portuguese (reading English)
sv-f2       sv+f2                 60     150    F    217     Swedish (reading English)
us-croak    en-us+croak           40     140    M    92      US, creaky
gb-storm    en+Storm              30     155    M    72      British, deep
de-m3       de+m3                 80     160    M    138     German (reading English)
fr-f3       fr+f3                 20     170    F    168     French (reading English)
us-grandma  en-us+grandma         60     145    F    215     US, older female
it-f1       it+f1                 40     185    F    157     Italian (reading English)
gb-quincy   en+quincy             50     160    M    84      British
==========  ====================  =====  =====  ===  ======  =====================================

Unseen voices (held out; four use a variant no training voice has: Andy, Annie, m8, klatt2):

==========  ====================  =====  =====  ===  ======  =====================================
name        espeak-ng voice       pitch  speed  sex  F0 Hz   accent
==========  ====================  =====  =====  ===  ======  =====================================
us-andy     en-us+Andy            45     160    M    90      US
rp-annie    en-gb-x-rp+Annie      60     165    F    258     Received Pronunciation
scot-m1     en-gb-scotland+m1     70     150    M    114     Scottish
car-f5      en-029+f5             70     175    F    253     Caribbean
nl-m8       nl+m8                 55     165    M    89      Dutch (reading English)
es-f1       es+f1                 45     155    F    171     Spanish (reading English)
nyc-klatt2  en-us-nyc+klatt2      60     170    M    112     New York, Klatt synthesiser
wmid-f2     en-gb-x-gbcwmd+f2     80     160    F    266     West Midlands
==========  ====================  =====  =====  ===  ======  =====================================

British English is espeak-ng's ``en``: ``en-gb+<variant>`` silently ignores the variant (espeak-ng
1.51). ``--real-from DIR`` (repeatable) adds the real speakers of DIR (``<speaker>/*.wav``, e.g.
``shared/data/vctk_mini``) to the training voices as ``<out>/<speaker>/`` folders of symbolic links
(named ``<speaker>_<stem>.wav``), with ``.txt`` transcripts from ``DIR/transcripts.tsv`` when it
has them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "utils"))
from espeak_corpus import NOISE_FLOOR, PEAK, SENTENCES, read_marker, render, require_espeak, write_clip  # noqa: E402


class Voice(NamedTuple):
    name: str
    espeak: str
    """espeak-ng voice+variant (``-v``)."""
    pitch: int
    """``-p``, 0-99."""
    speed: int
    """``-s``, words per minute."""
    sex: str
    """Of the variant's formant set: M or F."""


TRAIN = (
    Voice("us-m3", "en-us+m3", 25, 145, "M"),
    Voice("scot-m7", "en-gb-scotland+m7", 60, 160, "M"),
    Voice("gb-f2", "en+f2", 45, 165, "F"),
    Voice("us-f4", "en-us+f4", 75, 180, "F"),
    Voice("rp-m1", "en-gb-x-rp+m1", 35, 150, "M"),
    Voice("car-f1", "en-029+f1", 55, 170, "F"),
    Voice("nyc-m2", "en-us-nyc+m2", 50, 175, "M"),
    Voice("wmid-f3", "en-gb-x-gbcwmd+f3", 40, 155, "F"),
    Voice("lanc-m4", "en-gb-x-gbclan+m4", 70, 160, "M"),
    Voice("de-f5", "de+f5", 65, 150, "F"),
    Voice("fr-m5", "fr+m5", 30, 165, "M"),
    Voice("es-f4", "es+f4", 85, 175, "F"),
    Voice("it-m6", "it+m6", 45, 170, "M"),
    Voice("nl-f2", "nl+f2", 30, 160, "F"),
    Voice("pl-m7", "pl+m7", 20, 150, "M"),
    Voice("us-klatt", "en-us+klatt", 45, 155, "M"),
    Voice("gb-klatt3", "en+klatt3", 65, 145, "M"),
    Voice("scot-f3", "en-gb-scotland+f3", 70, 150, "F"),
    Voice("rp-f5", "en-gb-x-rp+f5", 50, 185, "F"),
    Voice("car-m2", "en-029+m2", 75, 140, "M"),
    Voice("nyc-f1", "en-us-nyc+f1", 80, 165, "F"),
    Voice("wmid-m5", "en-gb-x-gbcwmd+m5", 55, 170, "M"),
    Voice("lanc-f4", "en-gb-x-gbclan+f4", 35, 180, "F"),
    Voice("pt-m4", "pt+m4", 45, 155, "M"),
    Voice("sv-f2", "sv+f2", 60, 150, "F"),
    Voice("us-croak", "en-us+croak", 40, 140, "M"),
    Voice("gb-storm", "en+Storm", 30, 155, "M"),
    Voice("de-m3", "de+m3", 80, 160, "M"),
    Voice("fr-f3", "fr+f3", 20, 170, "F"),
    Voice("us-grandma", "en-us+grandma", 60, 145, "F"),
    Voice("it-f1", "it+f1", 40, 185, "F"),
    Voice("gb-quincy", "en+quincy", 50, 160, "M"),
)

UNSEEN = (
    Voice("us-andy", "en-us+Andy", 45, 160, "M"),
    Voice("rp-annie", "en-gb-x-rp+Annie", 60, 165, "F"),
    Voice("scot-m1", "en-gb-scotland+m1", 70, 150, "M"),
    Voice("car-f5", "en-029+f5", 70, 175, "F"),
    Voice("nl-m8", "nl+m8", 55, 165, "M"),
    Voice("es-f1", "es+f1", 45, 155, "F"),
    Voice("nyc-klatt2", "en-us-nyc+klatt2", 60, 170, "M"),
    Voice("wmid-f2", "en-gb-x-gbcwmd+f2", 80, 160, "F"),
)

DEFAULT_SENTENCES = 40
AUDIO_SUFFIXES = (".wav", ".flac")

# The noise floor of a voice's clip NNN is seeded by the voice's row in TRAIN + UNSEEN, so a voice's
# audio does not depend on how many voices are generated.
_SEED_ROW = {v.name: row for row, v in enumerate(TRAIN + UNSEEN)}


def real_speakers(dirs: list[Path]) -> dict[str, Path]:
    """Speaker -> its folder, for every ``<dir>/<speaker>/`` holding audio; SystemExit on a clash."""
    found: dict[str, Path] = {}
    taken = set(_SEED_ROW)
    for d in dirs:
        if not d.is_dir():
            raise SystemExit(f"error: --real-from {d}: not a folder of <speaker>/*.wav")
        speakers = sorted(s for s in d.iterdir() if s.is_dir() and not s.name.startswith("."))
        speakers = [s for s in speakers if any(f.suffix.lower() in AUDIO_SUFFIXES for f in s.iterdir())]
        if not speakers:
            raise SystemExit(f"error: --real-from {d}: no <speaker>/ folder with .wav or .flac files")
        for s in speakers:
            if s.name in taken:
                raise SystemExit(f"error: --real-from {d}: speaker {s.name} clashes with a voice of that name")
            taken.add(s.name)
            found[s.name] = s.resolve()
    return found


def link_real(out: Path, speaker: str, src: Path) -> int:
    """``<out>/<speaker>/<speaker>_<stem>.wav`` -> the real clips of ``src``; returns the count.
    Transcripts come from ``transcripts.tsv`` beside ``src``, read as vc-prep reads a VCTK-like tree."""
    from vc.data.readers import read_transcripts_tsv

    texts = read_transcripts_tsv(src.parent / "transcripts.tsv")
    dest = out / speaker
    dest.mkdir(parents=True, exist_ok=True)
    clips = sorted(f for f in src.iterdir() if f.suffix.lower() in AUDIO_SUFFIXES and f.is_file())
    for f in clips:
        name = f.stem if f.stem.startswith(f"{speaker}_") else f"{speaker}_{f.stem}"
        (dest / f"{name}{f.suffix.lower()}").symlink_to(f.resolve())
        if texts.get(f.stem):
            (dest / f"{name}.txt").write_text(texts[f.stem] + "\n", encoding="utf-8")
    return len(clips)


def _expected_files(out: Path, unseen_out: Path, settings: dict) -> list[Path]:
    files = []
    for folder, key in ((out, "voices"), (unseen_out, "unseen")):
        for name in settings[key]:
            for i in range(settings["sentences"]):
                files += [folder / name / f"{name}_{i + 1:03d}.wav", folder / name / f"{name}_{i + 1:03d}.txt"]
    return files


def _clean(out: Path, unseen_out: Path) -> None:
    """Remove what an earlier run may have written: every table voice's folder in both places, and
    the folders of linked real speakers (the only folders of ``out`` holding symbolic links)."""
    (out / "corpus.json").unlink(missing_ok=True)
    for folder in (out, unseen_out):
        for name in _SEED_ROW:
            shutil.rmtree(folder / name, ignore_errors=True)
    if out.is_dir():
        for d in sorted(p for p in out.iterdir() if p.is_dir() and not p.is_symlink()):
            if any(f.is_symlink() for f in d.iterdir()):
                shutil.rmtree(d)


def make_voices(out: Path, sr: int, n_sentences: int = DEFAULT_SENTENCES, n_voices: int = len(TRAIN),
                n_unseen: int = len(UNSEEN), unseen_out: Path | None = None,
                real_from: list[Path] | None = None) -> int:
    """Write the voice bank (see the module docstring); returns the number of clips synthesised."""
    if not 1 <= n_sentences <= len(SENTENCES):
        raise SystemExit(f"error: --sentences must be between 1 and {len(SENTENCES)}, got {n_sentences}")
    if not 2 <= n_voices <= len(TRAIN):
        raise SystemExit(f"error: --voices must be between 2 and {len(TRAIN)}, got {n_voices}")
    if not 0 <= n_unseen <= len(UNSEEN):
        raise SystemExit(f"error: --unseen must be between 0 and {len(UNSEEN)}, got {n_unseen}")
    unseen_out = unseen_out if unseen_out is not None else out.parent / f"{out.name}_unseen"
    if out.resolve() == unseen_out.resolve() or out.resolve() in unseen_out.resolve().parents:
        raise SystemExit(f"error: --unseen-out {unseen_out} is inside --out {out}, where vc-prep would train on it")
    real = real_speakers(list(real_from or []))
    voices, unseen = TRAIN[:n_voices], UNSEEN[:n_unseen]
    settings = {
        "sample_rate": sr,
        "sentences": n_sentences,
        "voices": {v.name: [v.espeak, v.pitch, v.speed] for v in voices},
        "unseen": {v.name: [v.espeak, v.pitch, v.speed] for v in unseen},
        "unseen_dir": os.path.relpath(unseen_out.absolute(), out.absolute()),
        "real": {name: str(path) for name, path in real.items()},
        "peak": PEAK,
        "noise": NOISE_FLOOR,
    }
    what = (f"{n_voices} training + {n_unseen} unseen voices x {n_sentences} sentences at {sr} Hz"
            + (f", {len(real)} real speakers linked" if real else ""))
    marker = out / "corpus.json"
    if read_marker(marker) == settings:
        complete = all(f.is_file() for f in _expected_files(out, unseen_out, settings))
        if complete and all((out / name).is_dir() for name in real):
            print(f"voice bank {out} already generated ({what})")
            return 0
    require_espeak(" or run recipes/mini/local/install_espeak.sh, which tries to")
    # Start clean: a half-written bank from an interrupted run must not mix with this one.
    _clean(out, unseen_out)
    out.mkdir(parents=True, exist_ok=True)
    written = 0
    with tempfile.TemporaryDirectory() as tmp:
        for folder, group in ((out, voices), (unseen_out, unseen)):
            for v in group:
                (folder / v.name).mkdir(parents=True, exist_ok=True)
                for i, text in enumerate(SENTENCES[:n_sentences]):
                    wav = render(text, v.espeak, v.pitch, v.speed, sr, 1000 * _SEED_ROW[v.name] + i, Path(tmp))
                    write_clip(folder / v.name, f"{v.name}_{i + 1:03d}", wav, sr, text)
                    written += 1
    linked = sum(link_real(out, name, path) for name, path in real.items())
    marker.write_text(json.dumps(settings, indent=1) + "\n")
    print(f"generated {written} clips ({what}) in {out}, the unseen voices in {unseen_out}"
          + (f"; {linked} real clips linked" if real else ""))
    return written


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="folder of the training voices (data.root of the config)")
    p.add_argument("--sr", type=int, required=True, help="sampling rate to write (features.sample_rate)")
    p.add_argument("--sentences", type=int, default=DEFAULT_SENTENCES,
                   help=f"sentences per voice (default {DEFAULT_SENTENCES}, at most {len(SENTENCES)})")
    p.add_argument("--voices", type=int, default=len(TRAIN),
                   help=f"training voices, the first N of the table (default: all {len(TRAIN)})")
    p.add_argument("--unseen", type=int, default=len(UNSEEN),
                   help=f"held-out voices, the first N of the unseen table (default: all {len(UNSEEN)}; 0: none)")
    p.add_argument("--unseen-out", help="folder of the unseen voices (default: <out>_unseen)")
    p.add_argument("--real-from", action="append", default=[], metavar="DIR",
                   help="also link the real speakers of DIR (<speaker>/*.wav) in as training voices (repeatable)")
    args = p.parse_args(argv)
    make_voices(Path(args.out), args.sr, args.sentences, args.voices, args.unseen,
                Path(args.unseen_out) if args.unseen_out else None, [Path(d) for d in args.real_from])
    return 0


if __name__ == "__main__":
    sys.exit(main())
