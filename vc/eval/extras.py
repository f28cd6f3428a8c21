"""The optional scores, each backed by a package with its model bundled (``pip install .[eval]``).

* speaker similarity: Resemblyzer's pretrained speaker encoder (GE2E, 256-d embeddings);
* naturalness: DNSMOS through speechmos (ONNX models in the package): P.835's overall, speech and
  background scores and the P.808 model's overall score;
* intelligibility: pocketsphinx with its bundled en-us acoustic and language model.

All three work at 16 kHz and nothing is downloaded at run time. The packages are imported only when
used; :func:`unavailable` tells why one cannot be, so the caller can skip its score with one line.
"""

from __future__ import annotations

import importlib
import os
import warnings
from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 16000
INSTALL_HINT = "pip install .[eval]"


@dataclass(frozen=True)
class Extra:
    name: str
    """The score's name in messages (``speaker similarity``)."""
    package: str
    """The pip package that provides it."""
    module: str
    """The module imported to use it."""


SPEAKER_SIMILARITY = Extra("speaker similarity", "resemblyzer", "resemblyzer")
NATURALNESS = Extra("naturalness", "speechmos", "speechmos.dnsmos")
INTELLIGIBILITY = Extra("intelligibility", "pocketsphinx", "pocketsphinx")
EXTRAS = (SPEAKER_SIMILARITY, NATURALNESS, INTELLIGIBILITY)


def unavailable(extra: Extra) -> str | None:
    """None when ``extra`` can be used, else the reason (one line) it cannot."""
    try:
        # The package first: a cached submodule would hide a package that has since become unusable.
        with warnings.catch_warnings():  # webrtcvad's "pkg_resources is deprecated" is not the user's concern
            warnings.simplefilter("ignore", UserWarning)
            importlib.import_module(extra.package)
            importlib.import_module(extra.module)
    except ImportError as exc:
        missing = getattr(exc, "name", None)
        if missing in (None, extra.package, extra.module) or (missing or "").split(".")[0] == extra.package:
            return f"install {extra.package} ({INSTALL_HINT})"
        return f"{extra.package} is installed but cannot import {missing} ({INSTALL_HINT})"
    except OSError as exc:  # a native library (onnxruntime, webrtcvad) that fails to load
        return f"{extra.package} failed to load ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
    return None


def skip_message(extra: Extra, reason: str) -> str:
    """The one line logged when an extra is skipped."""
    return f"{extra.name} skipped: {reason}"


def to_16k(wav: np.ndarray, sr: int) -> np.ndarray:
    """Resample ``wav (T,)`` to 16 kHz float32 in [-1, 1]."""
    wav = np.asarray(wav, dtype=np.float32)
    if sr != SAMPLE_RATE:
        import librosa

        wav = librosa.resample(wav, orig_sr=sr, target_sr=SAMPLE_RATE, res_type="soxr_hq")
    return np.clip(wav, -1.0, 1.0).astype(np.float32)


class SpeakerEncoder:
    """Resemblyzer's voice encoder: ``embed(wav16k) -> (256,)`` unit-norm embedding."""

    def __init__(self, device: str = "cpu") -> None:
        resemblyzer = importlib.import_module("resemblyzer")
        self._preprocess = resemblyzer.preprocess_wav
        self._encoder = resemblyzer.VoiceEncoder(device, verbose=False)

    def embed(self, wav16k: np.ndarray) -> np.ndarray:
        # preprocess_wav normalises the volume and cuts long pauses (webrtcvad), as in training.
        wav = self._preprocess(wav16k, source_sr=SAMPLE_RATE)
        if len(wav) < SAMPLE_RATE // 4:  # nearly all of it was judged silence: use the clip as is
            wav = wav16k
        return np.asarray(self._encoder.embed_utterance(wav), dtype=np.float64)

    def mean_embedding(self, wavs16k: list[np.ndarray]) -> np.ndarray:
        """Unit-norm mean embedding of several clips of one speaker/domain."""
        e = np.mean([self.embed(w) for w in wavs16k], axis=0)
        return e / max(float(np.linalg.norm(e)), 1e-12)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / max(float(np.linalg.norm(a) * np.linalg.norm(b)), 1e-12))


#: The row keys :meth:`Naturalness.scores` fills, from speechmos's result keys.
DNSMOS_KEYS = {"dnsmos": "ovrl_mos", "dnsmos_sig": "sig_mos", "dnsmos_bak": "bak_mos", "dnsmos_p808": "p808_mos"}


class Naturalness:
    """DNSMOS (speechmos): ``__call__(wav16k) -> P.835 overall MOS`` (1..5, higher is better);
    :meth:`scores` gives P.835's three scores and the P.808 model's overall MOS from the same run.

    DNSMOS scores 9.01 s windows; speechmos repeats a shorter clip until it fills one.
    """

    def __init__(self) -> None:
        self._dnsmos = importlib.import_module("speechmos.dnsmos")

    def scores(self, wav16k: np.ndarray) -> dict[str, float]:
        """``{"dnsmos": P.835 overall, "dnsmos_sig": P.835 speech signal, "dnsmos_bak": P.835
        background, "dnsmos_p808": P.808 overall}``: two models of DNSMOS on the same clip. P.835
        rates the speech and the background apart (OVRL combines them), so a cleaner background can
        make up for a more distorted voice in OVRL; P.808 rates the clip as a whole."""
        result = self._dnsmos.run(np.clip(wav16k, -1.0, 1.0), sr=SAMPLE_RATE)
        return {key: float(result[name]) for key, name in DNSMOS_KEYS.items()}

    def __call__(self, wav16k: np.ndarray) -> float:
        return self.scores(wav16k)["dnsmos"]


class Recognizer:
    """pocketsphinx with its bundled en-us model: ``__call__(wav16k) -> transcript`` (lower case)."""

    def __init__(self) -> None:
        pocketsphinx = importlib.import_module("pocketsphinx")
        # Its log goes to stderr by default; a run over hundreds of clips would bury the progress bar.
        self._decoder = pocketsphinx.Decoder(samprate=SAMPLE_RATE, loglevel="FATAL", logfn=os.devnull)

    def __call__(self, wav16k: np.ndarray) -> str:
        pcm = (np.clip(wav16k, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
        self._decoder.start_utt()
        self._decoder.process_raw(pcm, full_utt=True)
        self._decoder.end_utt()
        hyp = self._decoder.hyp()
        return hyp.hypstr if hyp is not None else ""
