#!/usr/bin/env python3
"""Cut sentence recordings into word-length clips, to try this recipe on a corpus like a word list.

    python local/cut_words.py --out OUT SPEAKER_DIR [SPEAKER_DIR ...] [--min 0.3] [--max 1.2]

Every ``SPEAKER_DIR`` (a folder of wav/flac files, named after its speaker) becomes
``OUT/<speaker>/<file>_wNN.wav``: mono, 16-bit, ``--sr`` Hz, the layout ``data.format: generic`` reads.
A recording is split at its pauses (``librosa.effects.split`` at ``--top-db`` below its peak; pauses
shorter than ``--merge-gap`` are bridged), then every stretch longer than ``--max`` seconds is split
again at its quietest 10 ms frame that leaves both parts at least ``--min`` seconds, until none is
longer. Stretches shorter than ``--min`` (clicks, breaths, a lone consonant) are dropped and counted.
The pieces resemble single words or short phrases, not clean word boundaries: read speech runs words
together, so a cut at an energy minimum often falls inside a word. Deterministic; prints one line
per speaker.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf

AUDIO_SUFFIXES = (".wav", ".flac")
HOP_SECONDS = 0.01  # energy frames for the cut points
EDGE_SECONDS = 0.03  # silence kept either side of a pause-bounded piece
FADE_SECONDS = 0.005  # fade at every cut, so a cut inside a word does not click


def cut_points(rms_db: np.ndarray, start: int, end: int, min_frames: int, max_frames: int) -> list[int]:
    """Frame indices splitting ``[start, end)`` into pieces of ``min_frames`` to ``max_frames`` frames.

    Each split falls at the quietest frame that leaves both sides at least ``min_frames`` long;
    ``rms_db`` is (T,) frame energy in dB.
    """
    if end - start <= max_frames or end - start < 2 * min_frames:
        return []
    lo, hi = start + min_frames, end - min_frames
    cut = lo + int(np.argmin(rms_db[lo : hi + 1]))
    return cut_points(rms_db, start, cut, min_frames, max_frames) + [cut] + cut_points(
        rms_db, cut, end, min_frames, max_frames
    )


def cut_recording(
    y: np.ndarray, sr: int, top_db: float, merge_gap: float, min_s: float, max_s: float
) -> tuple[list[np.ndarray], int]:
    """Word-length pieces of the (N,) signal ``y`` and the number of too-short stretches dropped."""
    hop = int(round(HOP_SECONDS * sr))
    intervals = librosa.effects.split(y, top_db=top_db, frame_length=4 * hop, hop_length=hop)
    merged: list[list[int]] = []
    for a, b in intervals:
        if merged and a - merged[-1][1] < merge_gap * sr:
            merged[-1][1] = int(b)
        else:
            merged.append([int(a), int(b)])
    rms_db = librosa.amplitude_to_db(librosa.feature.rms(y=y, frame_length=4 * hop, hop_length=hop)[0])
    min_frames, max_frames = int(round(min_s / HOP_SECONDS)), int(round(max_s / HOP_SECONDS))
    edge, fade = int(EDGE_SECONDS * sr), int(FADE_SECONDS * sr)
    ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
    pieces, dropped = [], 0
    for a, b in merged:
        fa, fb = a // hop, -(-b // hop)
        if fb - fa < min_frames:
            dropped += 1
            continue
        bounds = [fa, *cut_points(rms_db, fa, fb, min_frames, max_frames), fb]
        for i, (s, e) in enumerate(zip(bounds[:-1], bounds[1:])):
            # Pause-bounded ends keep a little of the pause; ends at a cut are exact.
            s0 = max(0, a - edge) if i == 0 else s * hop
            e0 = min(len(y), b + edge) if i == len(bounds) - 2 else e * hop
            piece = y[s0:e0].astype(np.float32).copy()
            piece[:fade] *= ramp
            piece[-fade:] *= ramp[::-1]
            pieces.append(piece)
    return pieces, dropped


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="cut_words.py", description=__doc__.split("\n\n")[0])
    p.add_argument("speaker_dirs", nargs="+", type=Path, help="folders of recordings, one per speaker")
    p.add_argument("--out", required=True, type=Path, help="corpus folder to write (<out>/<speaker>/)")
    p.add_argument("--sr", type=int, default=16000, help="output sampling rate (default: 16000)")
    p.add_argument("--top-db", type=float, default=30.0, help="pause threshold below the peak, dB (30)")
    p.add_argument("--merge-gap", type=float, default=0.05, help="bridge pauses shorter than this, s (0.05)")
    p.add_argument("--min", type=float, default=0.3, help="shortest piece, s (default: 0.3)")
    p.add_argument("--max", type=float, default=1.2, help="longest piece, s (default: 1.2)")
    args = p.parse_args(argv)
    if not 0 < 2 * args.min <= args.max:
        p.error(f"--max ({args.max}) must be at least twice --min ({args.min}) so a long stretch can split")

    for folder in args.speaker_dirs:
        files = sorted(f for f in folder.iterdir() if f.suffix.lower() in AUDIO_SUFFIXES) if folder.is_dir() else []
        if not files:
            print(f"error: {folder}: not a folder of wav or flac files", file=sys.stderr)
            return 2
        out = args.out / folder.name
        out.mkdir(parents=True, exist_ok=True)
        n, dropped, seconds = 0, 0, 0.0
        for f in files:
            y, _ = librosa.load(f, sr=args.sr, mono=True)
            pieces, lost = cut_recording(y, args.sr, args.top_db, args.merge_gap, args.min, args.max)
            dropped += lost
            for i, piece in enumerate(pieces):
                sf.write(out / f"{f.stem}_w{i:02d}.wav", piece, args.sr, subtype="PCM_16")
                seconds += len(piece) / args.sr
            n += len(pieces)
        mean = seconds / n if n else 0.0
        print(f"{folder.name}: {len(files)} recordings -> {n} clips, mean {mean:.2f} s, "
              f"{dropped} stretches under {args.min} s dropped -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
