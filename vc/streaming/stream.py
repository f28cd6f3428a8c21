"""Block-by-block conversion: ``stream = Stream(conv, target="p225")``, then ``stream.feed(block)``
returns the converted samples that are ready and ``stream.flush()`` the rest.

The stream works on the frame grid of the checkpoint's features (frame ``n`` at sample ``n * hop``)
and converts one *chunk* of ``block`` frames per step. A step for the frames ``[e, e + block)`` runs
as soon as the input reaches ``lookahead`` frames past the chunk plus the analysis ``margin``:

1. **analysis** of the frames not analysed for good yet, on a slice of the input with
   ``left_margin`` frames before them and ``margin`` after (so dio, CheapTrick and D4C, or the STFT,
   see the context they would see offline). A frame is kept for good (features, normalised log-F0,
   target F0, and its share of the running statistics) once ``full_margin`` frames of input after it
   were in the slice; the frames closer to the edge are provisional and analysed again next step;
2. **generator** on a window of ``context`` frames before the chunk, the chunk and its lookahead (it
   was trained on crops of ``model.crop_frames``, so a window of about that size is what it knows);
3. **vocoder** on the converted frames from ``voc_context`` frames before the chunk (the previous
   steps' outputs, so WORLD's pulses and a neural vocoder's receptive field are warmed up) to the end
   of the lookahead; the chunk's first ``crossfade`` frames are faded in over the tail the previous
   step synthesised for them, so there are no clicks at chunk boundaries.

Statistics never drift from block to block: a source of known domain uses that domain's log-F0 and
feature moments from ``stats.h5``; a source of unknown domain uses running moments of its voiced
frames, started from the average of the training domains (weighted as :data:`PRIOR_SECONDS` of
voiced frames) and frozen after :data:`vc.convert.converter.MOMENT_SECONDS` of voiced frames, as
offline conversion uses the clip's first 30 s. The output level follows a running input/output
energy ratio over active chunks, interpolated across each chunk so it never jumps, and a limiter
that only ever lowers the gain keeps peaks below full scale.

The output depends only on the samples fed, not on how they were cut into blocks: feeding one
sample at a time or 4000 gives the same output, bit for bit. Memory is bounded: the stream keeps
only the input, features and converted frames that later steps still read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from vc.convert.converter import MOMENT_SECONDS, Converter
from vc.errors import ConfigError, VCError

#: Analysis context (ms) each side of the frames analysed in a step, for WORLD features: dio's
#: filters, CheapTrick's and D4C's windows reach about this far (at a 60 Hz floor) before it
#: changes the analysed frames measurably (tests/test_streaming.py checks the agreement).
WORLD_MARGIN_MS = 30.0
#: Analysis context before the frames analysed in a step (ms): it costs no latency, so it is
#: generous.
LEFT_MARGIN_MS = 100.0
#: A frame is analysed for good once this much input after it (ms) has been seen: dio's voicing
#: decision still changes with the context up to about 80 ms after a frame. Frames closer to the end
#: of the input are analysed provisionally and again by the next step.
FULL_MARGIN_MS = 80.0
#: Generator context before the chunk (ms), by default: the cpu config's training crop (0.64 s).
CONTEXT_MS = 640.0
#: Vocoder context before the chunk (ms): WORLD's minimum-phase pulse responses (1024 samples at
#: 16 kHz) and a HiFi-GAN's receptive field both end well inside it.
VOC_CONTEXT_MS = 80.0
#: Cross-fade at each chunk boundary (ms).
CROSSFADE_MS = 10.0
#: The default algorithmic latency (ms): with the cpu model's compute per block (p95 ~60 ms on one
#: core, benchmarks/stream.py) the total stays under 250 ms.
LATENCY_MS = 180.0
#: The running statistics of a source of unknown domain start from the training domains' average,
#: weighted as this many seconds of voiced frames.
PRIOR_SECONDS = 0.5
#: Chunks quieter than this (relative to the loudest input chunk so far) do not steer the gain.
ACTIVE_DB = -30.0


@dataclass(frozen=True)
class StreamPlan:
    """Sizes of a stream, in frames of ``hop`` samples.

    ``block``: frames converted per step; ``lookahead``: frames after the chunk the generator and
    vocoder see; ``margin``: analysis context each side; ``context`` / ``voc_context``: frames before
    the chunk the generator / vocoder see; ``crossfade``: frames faded at each chunk boundary.
    """

    hop: int
    sample_rate: int
    block: int
    lookahead: int
    margin: int
    context: int
    voc_context: int
    crossfade: int
    left_margin: int
    full_margin: int

    @property
    def latency_samples(self) -> int:
        """Algorithmic latency: the first sample of a chunk leaves once the input reaches the end of
        the chunk, its lookahead and the analysis margin."""
        return (self.block + self.lookahead + self.margin) * self.hop

    @property
    def latency_ms(self) -> float:
        return self.ms(self.block + self.lookahead + self.margin)

    def ms(self, frames: int) -> float:
        """The duration of ``frames`` frames in milliseconds."""
        return 1000.0 * frames * self.hop / self.sample_rate

    @property
    def block_ms(self) -> float:
        return self.ms(self.block)


def make_plan(features, latency_ms: float = LATENCY_MS, block_ms: float | None = None,
              context_ms: float = CONTEXT_MS) -> StreamPlan:
    """The plan for ``features`` with at most ``latency_ms`` of algorithmic latency.

    The analysis margin is fixed by the feature kind (WORLD: :data:`WORLD_MARGIN_MS`; log-mel: half
    the FFT, and at least the margin dio's F0 needs); the rest of the latency is split between the
    chunk (``block_ms``, default half of it) and the lookahead.
    """
    hop, sr = features.hop, features.sample_rate
    frame_ms = 1000.0 * hop / sr
    margin = math.ceil(WORLD_MARGIN_MS / frame_ms)
    if features.kind == "mel":
        margin = max(margin, math.ceil(features.n_fft / 2 / hop))
    crossfade = max(1, round(CROSSFADE_MS / frame_ms))
    budget = int(math.floor(latency_ms / frame_ms + 1e-6)) - margin
    if budget < 2 * crossfade + 1:
        raise ConfigError(f"latency {latency_ms:g} ms is too short for these features: it must exceed "
                          f"{(margin + 2 * crossfade + 1) * frame_ms:g} ms ({frame_ms:g} ms frames, "
                          f"{margin * frame_ms:g} ms of analysis margin)")
    block = budget // 2 if block_ms is None else int(round(block_ms / frame_ms))
    if block < 1 or budget - block < crossfade:
        raise ConfigError(f"block {block_ms:g} ms does not fit a latency of {latency_ms:g} ms: the block plus "
                          f"{(margin + crossfade) * frame_ms:g} ms of margin and lookahead must fit in it")
    return StreamPlan(hop=hop, sample_rate=sr, block=block, lookahead=budget - block, margin=margin,
                      context=max(0, round(context_ms / frame_ms)),
                      voc_context=max(crossfade, math.ceil(VOC_CONTEXT_MS / frame_ms)), crossfade=crossfade,
                      left_margin=max(margin, math.ceil(LEFT_MARGIN_MS / frame_ms)),
                      full_margin=max(margin, math.ceil(FULL_MARGIN_MS / frame_ms)))


class _Moments:
    """Running mean and variance of the rows of ``(n, D)`` arrays, started from a prior worth
    ``prior_weight`` observations and frozen after ``limit`` observations."""

    def __init__(self, mean: np.ndarray, var: np.ndarray, prior_weight: float, limit: int) -> None:
        mean, var = np.atleast_1d(np.asarray(mean, np.float64)), np.atleast_1d(np.asarray(var, np.float64))
        self.n = float(prior_weight)
        self.sum = mean * self.n
        self.sumsq = (var + mean ** 2) * self.n
        self.seen, self.limit = 0, limit

    def update(self, rows: np.ndarray) -> None:
        rows = np.asarray(rows, np.float64)[: max(0, self.limit - self.seen)]
        self.seen += len(rows)
        self.n += len(rows)
        self.sum += rows.sum(axis=0)
        self.sumsq += (rows ** 2).sum(axis=0)

    @property
    def mean(self) -> np.ndarray:
        return self.sum / self.n

    @property
    def std(self) -> np.ndarray:
        return np.sqrt(np.maximum(self.sumsq / self.n - self.mean ** 2, 0.0))


class Stream:
    """A conversion that takes blocks of samples of any size and returns converted blocks.

    Args:
        conv: a :class:`vc.convert.Converter` (``vc.load(ckpt)``).
        target / ref / seed: the voice, as for ``conv(...)``: a domain for the mapping network (with
            ``seed``, default 0, for a reproducible style) or a reference clip for the style encoder.
        source: the source domain when the speaker is one of the model's domains (its statistics
            are then used from the first block); unknown sources use running statistics.
        latency_ms / block_ms / context_ms: see :func:`make_plan`.

    ``feed(block)`` takes float samples ``(n,)`` at ``conv.sample_rate`` (``n`` may be 0) and returns
    the converted samples ready so far; ``flush()`` converts the rest and returns it, after which the
    outputs add up to exactly the input's length. Errors (non-finite samples, a wrong shape, feeding
    after ``flush``) raise :class:`vc.errors.VCError` before anything changes, so what was already
    returned stays valid audio and the stream can go on with the next good block.
    """

    def __init__(self, conv: Converter, target: str | None = None, ref=None, source: str | None = None,
                 seed: int | None = 0, latency_ms: float = LATENCY_MS, block_ms: float | None = None,
                 context_ms: float = CONTEXT_MS) -> None:
        self.conv = conv
        self.plan = make_plan(conv.features, latency_ms, block_ms, context_ms)
        self.style = conv.style(target=target, ref=ref, seed=seed)
        self.target = conv.domains[self.style.target] if self.style.voice is None else None
        self._target_lf0 = conv.target_lf0(self.style)
        self.source = source
        self.source_index = conv.domain_index(source, "source domain") if source is not None else None
        stats, hop, sr = conv.stats, self.plan.hop, self.plan.sample_rate
        frames_per_second = sr / hop
        limit = int(MOMENT_SECONDS * frames_per_second)
        prior = PRIOR_SECONDS * frames_per_second
        domains = conv.domains
        self._lf0 = _Moments(np.mean([stats.lf0_mean[d] for d in domains]),
                             np.mean([stats.lf0_std[d] ** 2 for d in domains]), prior, limit)
        self._shift_moments = None
        if source is None and "moments" in conv.nets:
            m = conv.nets["moments"]
            self._shift_moments = _Moments(m.mean.mean(0).cpu().numpy(), (m.std ** 2).mean(0).cpu().numpy(),
                                           prior, limit)
        self._src_judged = None
        # Input samples from global sample index _in_start on.
        self._in = np.zeros(0, np.float32)
        self._in_start = 0
        self._received = 0
        # Per analysed frame, from global frame _a_start on: normalised features (n, Q), normalised
        # log-F0 (n,), target F0 (n,), coded aperiodicity (n, A) or None.
        self._a_start = 0
        self._x = np.zeros((0, conv.features.dim), np.float32)
        self._f0n = np.zeros(0, np.float32)
        self._f0t = np.zeros(0, np.float32)
        self._ap = None
        self._committed = 0  # frames [0, _committed) are analysed for good, the rest up to len(_x) provisional
        # Converted frames (normalised, (n, Q)) from global frame _y_start on, and the next chunk start.
        self._y = np.zeros((0, conv.features.dim), np.float32)
        self._y_start = 0
        self._emitted = 0
        self._tail = np.zeros(0, np.float32)
        self._gate_ref = -np.inf  # the silence gate's loud level so far, dB
        # Level: energies of active chunks, the loudest chunk so far, the gain applied at the last sample.
        self._e_in = self._e_out = 0.0
        self._loudest = 0.0
        self._gain = None
        self._limit = 1.0
        self._blocks = 0
        self._done = False

    # ------------------------------------------------------------------ public
    @property
    def latency_ms(self) -> float:
        """The algorithmic latency (ms): how long a sample waits for the input the step converting it
        needs, with no compute time."""
        return self.plan.latency_ms

    @property
    def sample_rate(self) -> int:
        return self.plan.sample_rate

    def feed(self, block) -> np.ndarray:
        """Add ``block`` (1-D float samples) and return the converted samples that are ready."""
        self._blocks += 1
        if self._done:
            raise VCError("stream: feed() after flush()")
        x = np.asarray(block, dtype=np.float32)
        if x.ndim != 1:
            raise VCError(f"stream block {self._blocks}: expected 1-D samples, got shape {x.shape}")
        if not np.isfinite(x).all():
            raise VCError(f"stream block {self._blocks}: contains NaN or Inf samples (at input sample "
                          f"{self._received + int(np.argmin(np.isfinite(x)))})")
        self._in = np.concatenate([self._in, x])
        self._received += len(x)
        out = []
        while self._received >= self._needed(self._emitted):
            out.append(self._step(final=False))
        return np.concatenate(out) if out else np.zeros(0, np.float32)

    def flush(self) -> np.ndarray:
        """Convert what is left; the stream is finished afterwards."""
        if self._done:
            return np.zeros(0, np.float32)
        self._done = True
        out = []
        total = self._received
        while self._emitted * self.plan.hop < total:
            out.append(self._step(final=True))
        return np.concatenate(out) if out else np.zeros(0, np.float32)

    # ------------------------------------------------------------------ steps
    def _needed(self, e: int) -> int:
        """Input samples the step for the chunk starting at frame ``e`` waits for."""
        p = self.plan
        return (e + p.block + p.lookahead + p.margin - 1) * p.hop + 1

    def _frames_total(self) -> int:
        return 1 + self._received // self.plan.hop

    def _analyse(self, b: int, final: bool) -> None:
        """Analyse the frames ``[self._committed, b)``.

        A frame is committed (kept as it is, its F0 counted in the running statistics) once the slice
        reached :attr:`StreamPlan.full_margin` frames past it; the frames before that point are
        provisional and analysed again by the next step, with more context.
        """
        from vc.features import extract

        a = self._committed
        if b <= a:
            return
        p, hop = self.plan, self.plan.hop
        s0 = max(0, (a - p.left_margin) * hop)
        s1 = self._received if final else min(self._received, (b - 1 + p.margin) * hop + 1)
        wav = self._in[s0 - self._in_start : s1 - self._in_start]
        feats = extract(wav, self.conv.features)
        first = s0 // hop
        sl = slice(a - first, b - first)
        commit = b if final else max(a, min(b, b + p.margin - p.full_margin))
        x = self.conv.stats.normalize(feats.feats[sl]).astype(np.float32)
        f0 = feats.f0[sl]
        f0n, f0t = self._f0(f0, x, commit - a)
        keep = a - self._a_start
        self._x = np.concatenate([self._x[:keep], x])
        self._f0n = np.concatenate([self._f0n[:keep], f0n])
        self._f0t = np.concatenate([self._f0t[:keep], f0t])
        if feats.ap is not None:
            ap = feats.ap[sl]
            self._ap = ap if self._ap is None else np.concatenate([self._ap[:keep], ap])
        self._committed = commit

    def _f0(self, f0: np.ndarray, x: np.ndarray, n_commit: int) -> tuple[np.ndarray, np.ndarray]:
        """Normalised log-F0 and target F0 (Hz) of newly analysed frames; the first ``n_commit`` of
        them (the committed ones) update the running moments."""
        stats = self.conv.stats
        mu_t, sd_t = self._target_lf0
        if self.source is not None:
            f0n = stats.f0_normalized(f0, self.source)
            if self.target is not None:
                return f0n, stats.convert_f0(f0, self.source, self.target)
            return f0n, np.where(f0 > 0, np.exp(f0n * sd_t + mu_t), 0.0).astype(np.float32)
        voiced = f0 > 0
        done = voiced[:n_commit]
        if done.any():
            self._lf0.update(np.log(f0[:n_commit][done])[:, None])
            if self._shift_moments is not None:
                self._shift_moments.update(x[:n_commit][done])
        mu, sd = float(self._lf0.mean[0]), max(float(self._lf0.std[0]), 1e-3)
        f0n = np.zeros_like(f0, dtype=np.float32)
        f0t = np.zeros_like(f0, dtype=np.float32)
        z = (np.log(f0[voiced]) - mu) / sd
        f0n[voiced] = z
        f0t[voiced] = np.exp(z * sd_t + mu_t)
        return f0n, f0t

    def _shift(self):
        """The statistical base's shift for a source of unknown domain (running moments), or from a
        known source domain to a reference clip's voice; None: the family shifts between domains."""
        from vc.models.moments import STD_FLOOR

        if self._shift_moments is None:
            if self.style.voice is None or "moments" not in self.conv.nets:
                return None
            src = self.conv.nets["moments"](torch.tensor([self.source_index]))
            return self.conv.nets["moments"].between(*src, *self.conv.target_moments(self.style))
        m = self._shift_moments
        tgt_mean, tgt_std = self.conv.target_moments(self.style)
        mean = torch.from_numpy(m.mean).float()[None]
        std = torch.from_numpy(m.std).float()[None].clamp_min(STD_FLOOR)
        return self.conv.nets["moments"].between(mean, std, tgt_mean, tgt_std)

    @torch.no_grad()
    def _step(self, final: bool) -> np.ndarray:
        p, hop, conv = self.plan, self.plan.hop, self.conv
        e = self._emitted
        total_frames = self._frames_total() if final else None
        c1 = e + p.block if not final else min(e + p.block, total_frames)
        w1 = e + p.block + p.lookahead if not final else min(e + p.block + p.lookahead, total_frames)
        self._analyse(w1, final)
        # Generator on [w0, w1).
        w0 = max(self._a_start, e - p.context)
        lo, hi = w0 - self._a_start, w1 - self._a_start
        x = torch.from_numpy(self._x[lo:hi].T.copy())[None, None].to(conv.device)
        f0n = torch.from_numpy(self._f0n[lo:hi].copy())[None].to(conv.device)
        src = self._source_for(x)
        y = conv.family.convert(conv.nets, x, f0n, src, self.style.target, self.style.vector, shift=self._shift(),
                                **conv.convert_kwargs(self.style))
        y = y[0, 0].float().cpu().numpy().T  # (w1 - w0, Q)
        if conv.gate_db > 0:
            # The silence gate's loud level: the loudest window so far (the whole input is not known yet).
            src_frames = self._x[lo:hi]
            self._gate_ref = max(self._gate_ref, conv.gate_reference(src_frames))
            y = conv.gate(y, src_frames, self._gate_ref)
        new = y[e - w0 :]
        # Vocoder on [v0, w1): earlier steps' converted frames, then this step's.
        v0 = max(self._y_start, e - p.voc_context)
        feats = np.concatenate([self._y[v0 - self._y_start : e - self._y_start], new])
        a0, a1 = v0 - self._a_start, w1 - self._a_start
        ap = self._ap[a0:a1] if self._ap is not None else None
        wav = np.asarray(conv.vocoder(feats, f0=self._f0t[a0:a1], ap=ap), dtype=np.float32)
        end = c1 * hop if not final else min(c1 * hop, self._received)  # the last frame ends with the input
        chunk = wav[(e - v0) * hop : end - v0 * hop]
        tail = wav[(c1 - v0) * hop : (c1 + p.crossfade - v0) * hop]
        n = min(len(self._tail), len(chunk))
        if n:
            ramp = (np.arange(1, n + 1, dtype=np.float32) / (n + 1))
            chunk = chunk.copy()
            chunk[:n] = self._tail[:n] * (1.0 - ramp) + chunk[:n] * ramp
        self._tail = tail
        chunk = self._level(chunk, self._in[e * hop - self._in_start : e * hop - self._in_start + len(chunk)])
        # Keep the converted chunk frames and forget what no later step reads.
        self._y = np.concatenate([self._y[: e - self._y_start], new[: c1 - e]])
        self._emitted = c1
        self._trim()
        return chunk

    def _source_for(self, x: torch.Tensor) -> int:
        if self.source_index is not None:
            return self.source_index
        if not self.conv.family.needs_source:
            return -1
        if self._src_judged is None:  # judged once, on the first window, so it cannot flip mid-stream
            self._src_judged = int(torch.as_tensor(self.conv.family.judge_domain(self.conv.nets, x)).argmax())
        return self._src_judged

    def _level(self, out: np.ndarray, like: np.ndarray) -> np.ndarray:
        """Scale ``out`` by the running input/output energy ratio, ramped from the last gain."""
        if not len(out):
            return out
        e_in = float(np.mean(like.astype(np.float64) ** 2)) if len(like) else 0.0
        e_out = float(np.mean(out.astype(np.float64) ** 2))
        self._loudest = max(self._loudest, e_in)
        if e_in > 0 and e_in >= self._loudest * 10 ** (ACTIVE_DB / 10) and e_out > 0:
            self._e_in += e_in * len(out)
            self._e_out += e_out * len(out)
        target = float(np.sqrt(self._e_in / self._e_out)) if self._e_out > 0 else 1.0
        target = min(max(target, 0.05), 20.0)
        start = target if self._gain is None else self._gain
        ramp = np.linspace(start, target, len(out) + 1, dtype=np.float64)[1:]
        y = out * ramp * self._limit
        peak = float(np.max(np.abs(y)))
        if peak > 0.99:  # the limiter only ever lowers the gain, ramped over this chunk
            new_limit = self._limit * 0.99 / peak
            lim = np.linspace(self._limit, new_limit, len(out) + 1)[1:]
            y = np.clip(out * ramp * lim, -0.99, 0.99)
            self._limit = new_limit
        self._gain = target
        return y.astype(np.float32)

    def _trim(self) -> None:
        """Forget input, features and converted frames no later step reads."""
        p, hop = self.plan, self.plan.hop
        e = self._emitted
        keep_a = max(self._a_start, min(e - p.context, e - p.voc_context, self._committed))
        drop = keep_a - self._a_start
        if drop > 0:
            self._x, self._f0n, self._f0t = self._x[drop:], self._f0n[drop:], self._f0t[drop:]
            if self._ap is not None:
                self._ap = self._ap[drop:]
            self._a_start = keep_a
        keep_y = max(self._y_start, e - p.voc_context)
        if keep_y > self._y_start:
            self._y = self._y[keep_y - self._y_start :]
            self._y_start = keep_y
        keep_s = max(self._in_start, min(e, self._committed - p.left_margin) * hop)
        if keep_s > self._in_start:
            self._in = self._in[keep_s - self._in_start :]
            self._in_start = keep_s
