"""Streaming from a file or stdin to a file or stdout (``vc-convert --stream``).

Input: an audio file (any format soundfile reads, at the model's sampling rate; several channels
are averaged) or ``-`` for raw 16-bit little-endian mono PCM on stdin at the model's rate, read as
it arrives. Output: a WAV file (16-bit PCM), written block by block, or ``-`` for raw 16-bit PCM on
stdout, flushed after every block. A file that cannot be streamed (missing, truncated, at another
sampling rate) is refused before any output exists. When the input goes bad part-way (non-finite
samples, stdin closing in the middle of a sample) the output written so far is closed as valid
audio and a :class:`vc.errors.VCError` names the input, the problem and what was kept.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

from vc.errors import VCError
from vc.streaming.stream import Stream


def pcm_blocks(stream: BinaryIO, block: int, name: str = "stdin") -> Iterator[np.ndarray]:
    """Float samples from raw 16-bit little-endian mono PCM, ``block`` samples at a time (fewer when
    less has arrived: every read returns what the pipe holds)."""
    carry = b""
    read = getattr(stream, "read1", stream.read)
    while True:
        data = read(block * 2)
        if not data:
            break
        data = carry + data
        n = len(data) // 2 * 2
        carry = data[n:]
        if n:
            yield np.frombuffer(data[:n], dtype="<i2").astype(np.float32) / 32768.0
    if carry:
        raise VCError(f"{name}: ended in the middle of a 16-bit sample (1 stray byte)")


def open_file(path: Path, sample_rate: int):
    """An open soundfile of ``path``, checked before anything is written: readable, complete (a WAV
    whose header declares more data than the file holds is refused), at ``sample_rate`` (a stream
    cannot resample a whole file first)."""
    import soundfile as sf

    from vc.audio import _wav_truncation

    if not path.is_file():
        raise VCError(f"{path}: source file not found")
    truncated = _wav_truncation(path)
    if truncated:
        raise VCError(f"{path}: {truncated}")
    try:
        f = sf.SoundFile(str(path))
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise VCError(f"{path}: not a readable audio file ({str(exc).splitlines()[0]})") from None
    if f.samplerate != sample_rate:
        f.close()
        raise VCError(f"{path}: {f.samplerate} Hz, but the model streams at {sample_rate} Hz; resample it "
                      f"first (e.g. sox {path.name} -r {sample_rate} out.wav) or convert it without --stream")
    return f


def file_blocks(f, path: Path, block: int) -> Iterator[np.ndarray]:
    """Float mono samples of the open soundfile ``f``, ``block`` frames at a time (closes it)."""
    import soundfile as sf

    with f:
        read = 0
        while True:
            try:
                x = f.read(block, dtype="float32", always_2d=True)
            except (sf.LibsndfileError, RuntimeError) as exc:
                raise VCError(f"{path}: unreadable after sample {read} ({str(exc).splitlines()[0]})") from None
            if not len(x):
                break
            read += len(x)
            yield x.mean(axis=1) if x.shape[1] > 1 else x[:, 0]


class _Sink:
    """Where converted blocks go: a 16-bit WAV file or raw 16-bit PCM on stdout."""

    def __init__(self, out: str, sample_rate: int) -> None:
        self.name = out
        self.samples = 0
        self.sample_rate = sample_rate
        if out == "-":
            self._raw = sys.stdout.buffer
            self._file = None
        else:
            import soundfile as sf

            Path(out).parent.mkdir(parents=True, exist_ok=True)
            self._file = sf.SoundFile(out, "w", samplerate=sample_rate, channels=1, subtype="PCM_16")

    def write(self, wav: np.ndarray) -> None:
        if not len(wav):
            return
        if self._file is not None:
            self._file.write(wav)
            self._file.flush()
        else:
            pcm = (np.clip(wav, -1.0, 32767 / 32768) * 32768.0).astype("<i2")
            self._raw.write(pcm.tobytes())
            self._raw.flush()
        self.samples += len(wav)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()

    def kept(self) -> str:
        where = "stdout" if self.name == "-" else self.name
        return f"{where} holds the {self.samples / self.sample_rate:.2f} s converted before it"


def stream_convert(stream: Stream, src: str, out: str, read_block: int = 1024) -> int:
    """Feed ``src`` (a file, or ``-`` for raw PCM on stdin) through ``stream`` into ``out`` (a WAV
    file, or ``-`` for raw PCM on stdout). Returns the number of samples written."""
    sr = stream.sample_rate
    if src == "-":
        blocks = pcm_blocks(sys.stdin.buffer, read_block)
        name = "stdin"
    else:
        path = Path(src)
        blocks = file_blocks(open_file(path, sr), path, read_block)
        name = str(path)
    sink = _Sink(out, sr)
    try:
        try:
            for block in blocks:
                sink.write(stream.feed(block))
        except VCError as exc:
            sink.write(stream.flush())  # what arrived before the bad part is converted and kept
            message = str(exc).splitlines()[0]
            if not message.startswith(name):
                message = f"{name}: {message}"
            raise VCError(f"{message}; {sink.kept()}") from None
        sink.write(stream.flush())
    finally:
        sink.close()
    return sink.samples
