"""Speech-like test audio and tiny corpora, generated on the fly (no recordings, no TTS).

:func:`speech_like` builds a voiced "utterance": a harmonic (glottal-pulse-like, 1/k) source whose F0
follows a smooth contour around ``f0``, shaped by formant resonances and an extra spectral tilt,
cut into syllables (raised-cosine envelopes, formants changing per syllable) separated by short
silences and noise bursts (unvoiced "consonants"), with silence at both ends (so trimming has work).

Domains are described by a dict of :func:`speech_like` keyword arguments, e.g. two domains that differ
only in a known spectral tilt (the bright one has more high-frequency energy)::

    from synth import make_corpus   # tests/ is on sys.path (tests/conftest.py sees to it)
    root = make_corpus(tmp_path / "corpus", layout="generic",
                       domains={"dark": dict(f0=110, tilt=-6.0), "bright": dict(f0=110, tilt=+3.0)},
                       n_per_domain=6, seconds=1.0, sr=16000)
    # -> tmp_path/corpus/dark/dark_000.wav (+ dark_000.txt), ..., ready for data.format: generic

Everything is deterministic: the same arguments give the same samples.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

# Formant frequencies / bandwidths (Hz) of a few vowels; syllables cycle through them.
VOWELS = (
    ((730, 1090, 2440), (80, 90, 120)),  # a
    ((270, 2290, 3010), (60, 90, 150)),  # i
    ((300, 870, 2240), (60, 80, 120)),  # u
    ((530, 1840, 2480), (70, 90, 130)),  # e
    ((570, 840, 2410), (70, 80, 120)),  # o
)

DEFAULT_DOMAINS: dict[str, dict] = {
    "low": dict(f0=100.0, tilt=-3.0),
    "mid": dict(f0=160.0, tilt=0.0),
    "high": dict(f0=230.0, tilt=3.0, formant_shift=1.12),
}
"""Three domains differing in pitch, spectral tilt and vocal-tract length (formant scale)."""


def _formant_gain(freqs: np.ndarray, formants: np.ndarray, bandwidths: np.ndarray) -> np.ndarray:
    """Magnitude of a cascade of second-order resonances at ``freqs`` (any shape), peak-normalised."""
    gain = np.ones_like(freqs)
    for fc, bw in zip(formants, bandwidths):
        # |H(f)| of a resonator with centre fc and bandwidth bw, 1 at f = 0.
        gain *= (fc**2 + (bw / 2) ** 2) / np.sqrt(((fc**2 + (bw / 2) ** 2 - freqs**2) ** 2) + (freqs * bw) ** 2)
    return gain


def speech_like(
    seconds: float = 1.0,
    sr: int = 16000,
    f0: float = 120.0,
    tilt: float = 0.0,
    formant_shift: float = 1.0,
    noise: float = 0.01,
    syllable: float = 0.22,
    lead_silence: float = 0.1,
    seed: int = 0,
    peak: float = 0.5,
) -> np.ndarray:
    """One speech-like utterance.

    Args:
        seconds: total length including the leading/trailing silences.
        sr: sampling rate.
        f0: mean F0 in Hz; the contour wanders about +-15% (slow sine plus declination).
        tilt: extra spectral tilt in dB per octave above 500 Hz (negative = darker, positive = brighter).
        formant_shift: scales every formant frequency (>1: shorter vocal tract, e.g. a child).
        noise: level of the aspiration noise mixed into voiced parts, relative to the peak.
        syllable: mean syllable length in seconds (syllables are separated by 40-90 ms gaps).
        lead_silence: seconds of near-silence at each end.
        seed: varies the contour, syllable timing and vowel sequence.
        peak: absolute peak of the result.

    Returns:
        ``(round(seconds * sr),)`` float32.
    """
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sr))
    t = np.arange(n) / sr
    contour = f0 * (1.0 + 0.1 * np.sin(2 * np.pi * (0.6 + 0.4 * rng.random()) * t + rng.uniform(0, 6.28)))
    contour *= 1.0 - 0.08 * t / max(seconds, 1e-3)  # declination
    phase = 2 * np.pi * np.cumsum(contour) / sr

    # Syllable layout: (start, end, vowel index) within the speech part.
    start, stop = lead_silence, seconds - lead_silence
    env = np.zeros(n)
    vowel_of_sample = np.zeros(n, dtype=int)
    fricative = np.zeros(n)
    pos = start
    while pos < stop - 0.05:
        length = min(syllable * rng.uniform(0.7, 1.3), stop - pos)
        i0, i1 = int(pos * sr), int((pos + length) * sr)
        env[i0:i1] = np.sin(np.pi * np.linspace(0, 1, i1 - i0)) ** 0.6
        vowel_of_sample[i0:i1] = rng.integers(len(VOWELS))
        pos += length
        gap = rng.uniform(0.04, 0.09)
        if rng.random() < 0.5 and pos + gap < stop:  # an unvoiced "consonant" in the gap
            g0, g1 = int(pos * sr), int((pos + gap) * sr)
            fricative[g0:g1] = np.hanning(g1 - g0)
        pos += gap

    # Harmonic source shaped per sample by the current vowel's formants and the tilt.
    wav = np.zeros(n)
    k_max = int((sr / 2 - 200) / (f0 * 0.8))
    formants = np.array([VOWELS[v][0] for v in range(len(VOWELS))], dtype=float) * formant_shift
    bands = np.array([VOWELS[v][1] for v in range(len(VOWELS))], dtype=float)
    for k in range(1, k_max + 1):
        fk = k * contour
        valid = fk < sr / 2 - 100
        if not valid.any():
            break
        gain = np.empty(n)
        for v in range(len(VOWELS)):
            sel = vowel_of_sample == v
            gain[sel] = _formant_gain(fk[sel], formants[v], bands[v])
        octaves = np.log2(np.maximum(fk, 500.0) / 500.0)
        gain *= 10.0 ** (tilt * octaves / 20.0) / k  # 1/k: a glottal-pulse-like source
        wav += np.where(valid, gain * np.sin(k * phase), 0.0)
    wav *= env
    wav += noise * np.abs(wav).max() * rng.standard_normal(n) * env
    # Fricatives: high-passed noise (first difference) at a fixed fraction of the voiced level.
    hiss = np.diff(rng.standard_normal(n + 1)) * fricative
    wav += 0.15 * np.abs(wav).max() * hiss / max(np.abs(hiss).max(), 1e-9)
    wav += 1e-5 * rng.standard_normal(n)  # a faint noise floor: digital zero is not realistic
    wav *= peak / np.abs(wav).max()
    return wav.astype(np.float32)


def _write(path: Path, wav: np.ndarray, sr: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), wav, sr)


def make_corpus(
    root: str | Path,
    layout: str = "generic",
    domains: dict[str, dict] | None = None,
    n_per_domain: int = 6,
    seconds: float = 1.0,
    sr: int = 16000,
    seed: int = 0,
) -> Path:
    """Write a tiny corpus of :func:`speech_like` clips and return what ``data.root`` should be.

    Args:
        root: folder to create.
        layout: how files are laid out (each utterance is ``<domain>_<NNN>``, NNN from 001):

            * ``generic``  ``root/<domain>/<utt>.wav`` with a sibling ``<utt>.txt``;
            * ``vctk080``  ``root/wav48/<domain>/<utt>.wav``, ``root/txt/<domain>/<utt>.txt``;
            * ``vctk092``  ``root/wav48_silence_trimmed/<domain>/<utt>_mic{1,2}.flac`` (the mic2 copy
              is quieter, so tests can tell which was read), ``root/txt/<domain>/<utt>.txt``;
            * ``vctkflat`` ``root/<domain>/<utt>.wav`` plus ``root/transcripts.tsv`` (utt_id, text);
            * ``list``     ``root/audio/<utt>.wav`` and ``root/list.txt`` of ``audio/<utt>.wav|domain|text``.
        domains: ``{name: speech_like kwargs}``; defaults to :data:`DEFAULT_DOMAINS`.
        n_per_domain, seconds, sr, seed: how many clips, how long, at what rate; clip ``i`` of a
            domain uses seed ``seed * 1000 + 100 * domain index + i``, and lengths vary +-10%.

    Returns:
        ``root`` (a folder) or, for ``layout="list"``, the list file.
    """
    root = Path(root)
    domains = DEFAULT_DOMAINS if domains is None else domains
    lines, tsv = [], ["utt_id\ttext"]
    for d_i, (name, params) in enumerate(domains.items()):
        for i in range(n_per_domain):
            utt = f"{name}_{i + 1:03d}"
            s = seed * 1000 + 100 * d_i + i
            dur = seconds * (0.9 + 0.2 * np.random.default_rng(s).random())
            wav = speech_like(seconds=dur, sr=sr, seed=s, **params)
            text = f"utterance {i + 1} of {name}"
            if layout == "generic":
                _write(root / name / f"{utt}.wav", wav, sr)
                (root / name / f"{utt}.txt").write_text(text + "\n")
            elif layout == "vctk080":
                _write(root / "wav48" / name / f"{utt}.wav", wav, sr)
                (root / "txt" / name).mkdir(parents=True, exist_ok=True)
                (root / "txt" / name / f"{utt}.txt").write_text(text + "\n")
            elif layout == "vctk092":
                _write(root / "wav48_silence_trimmed" / name / f"{utt}_mic1.flac", wav, sr)
                _write(root / "wav48_silence_trimmed" / name / f"{utt}_mic2.flac", 0.5 * wav, sr)
                (root / "txt" / name).mkdir(parents=True, exist_ok=True)
                (root / "txt" / name / f"{utt}.txt").write_text(text + "\n")
            elif layout == "vctkflat":
                _write(root / name / f"{utt}.wav", wav, sr)
                tsv.append(f"{utt}\t{text}")
            elif layout == "list":
                _write(root / "audio" / f"{utt}.wav", wav, sr)
                lines.append(f"audio/{utt}.wav|{name}|{text}")
            else:
                raise ValueError(f"unknown layout {layout!r}")
    if layout == "vctkflat":
        (root / "transcripts.tsv").write_text("\n".join(tsv) + "\n")
    if layout == "list":
        (root / "list.txt").write_text("# generated by tests.synth.make_corpus\n" + "\n".join(lines) + "\n")
        return root / "list.txt"
    return root
