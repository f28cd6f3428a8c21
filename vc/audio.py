"""Reading and writing audio files, refusing unusable input with one clear line.

:func:`load` reads wav, flac, ogg and mp3 through soundfile (libsndfile), mixes down to mono and
resamples; every way a file can be unusable is an :class:`~vc.errors.AudioError` naming the file and
the problem. Durations are checked against the header *before* the samples are read, so an hour-long
file offered by mistake is refused without decoding it.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np
import soundfile as sf

from vc.errors import AudioError, VCError
from vc.io import atomic_path

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")
"""Extensions the corpus readers pick up (compared case-insensitively)."""

SILENCE_PEAK = 1e-4
"""A file whose absolute peak stays below this (about -80 dBFS) is refused as silent."""


def _wav_truncation(path: Path) -> str | None:
    """For RIFF/WAVE files: a reason if the ``data`` chunk declares more bytes than the file holds.

    libsndfile quietly shortens such files to what is present, so a copy interrupted half-way would
    otherwise pass as a valid (shorter) clip.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            size = os.fstat(f.fileno()).st_size
            while True:
                chunk = f.read(8)
                if len(chunk) < 8:
                    return None
                cid, clen = chunk[:4], struct.unpack("<I", chunk[4:])[0]
                if cid == b"data":
                    available = size - f.tell()
                    # 0 and 0xFFFFFFFF are used by streaming writers that never patch the header.
                    if clen not in (0, 0xFFFFFFFF) and clen > available:
                        return f"truncated (header declares {clen} bytes of samples, file holds {available})"
                    return None
                f.seek(clen + (clen & 1), os.SEEK_CUR)
    except OSError:
        return None


def duration(path: str | os.PathLike) -> float:
    """Duration in seconds from the file header (no decoding); AudioError if unreadable."""
    path = Path(path)
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise AudioError(f"{path}: not a readable audio file ({_short(exc)})") from None
    return info.frames / info.samplerate if info.samplerate else 0.0


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    # libsndfile prefixes "Error opening '<path>': " which would repeat the path.
    return text.split("': ", 1)[-1]


def load(
    path: str | os.PathLike,
    sr: int,
    min_duration: float | None = None,
    max_duration: float | None = None,
) -> np.ndarray:
    """Read an audio file as mono float32 at ``sr`` Hz.

    Args:
        path: a wav, flac, ogg or mp3 file (anything libsndfile reads).
        sr: target sampling rate; the audio is resampled (soxr, high quality) when it differs.
        min_duration, max_duration: seconds; checked against the header before decoding.

    Returns:
        ``(T,)`` float32 samples, nominally in [-1, 1].

    Raises:
        AudioError: missing, empty, not audio, truncated, zero length, NaN/Inf samples, silent
            throughout (peak below 1e-4), shorter than ``min_duration`` or longer than ``max_duration``.
    """
    path = Path(path)
    if not path.exists():
        raise AudioError(f"{path}: audio file not found")
    if path.is_dir():
        raise AudioError(f"{path}: is a directory, not an audio file")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: empty file (0 bytes)")
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise AudioError(f"{path}: not a readable audio file ({_short(exc)})") from None
    if info.frames <= 0 or info.samplerate <= 0:
        raise AudioError(f"{path}: zero-length audio (no samples)")
    truncated = _wav_truncation(path)
    if truncated:
        raise AudioError(f"{path}: {truncated}")
    seconds = info.frames / info.samplerate
    if max_duration is not None and seconds > max_duration:
        raise AudioError(f"{path}: too long ({seconds:.2f} s > max_duration {max_duration:g} s)")
    if min_duration is not None and seconds < min_duration:
        raise AudioError(f"{path}: too short ({seconds:.2f} s < min_duration {min_duration:g} s)")

    try:
        data, file_sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise AudioError(f"{path}: could not decode audio ({_short(exc)})") from None
    if data.shape[0] == 0:
        raise AudioError(f"{path}: zero-length audio (no samples)")
    if not np.isfinite(data).all():
        raise AudioError(f"{path}: contains NaN or infinite samples")
    wav = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    peak = float(np.abs(wav).max())
    if peak < SILENCE_PEAK:
        raise AudioError(f"{path}: silent throughout (peak {peak:.1e} < {SILENCE_PEAK:.0e})")
    if file_sr != sr:
        import librosa

        wav = librosa.resample(wav, orig_sr=file_sr, target_sr=sr, res_type="soxr_hq")
    return np.ascontiguousarray(wav, dtype=np.float32)


def save(path: str | os.PathLike, wav: np.ndarray, sr: int) -> None:
    """Write ``wav`` ``(T,)`` as 16-bit PCM wav, atomically; samples beyond [-1, 1] are clipped.

    Raises:
        VCError: the path cannot be written (missing permissions, a directory in the way...).
    """
    path = Path(path)
    wav = np.clip(np.asarray(wav, dtype=np.float32).reshape(-1), -1.0, 1.0)
    try:
        with atomic_path(path) as tmp:
            sf.write(str(tmp), wav, sr, subtype="PCM_16", format="WAV")
    except (OSError, sf.LibsndfileError, RuntimeError) as exc:
        raise VCError(f"{path}: cannot write audio ({_short(exc)})") from None
