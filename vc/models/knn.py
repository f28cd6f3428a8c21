"""Nearest-frame refinement of the statistical base (``model.generator_base: knn``).

Per-dimension moment matching (and frequency warping) moves a source voice only part of the way: the
fine spectral shape of every frame stays the source's. kNN-VC (Baas et al. 2023) replaces each
source frame by the mean of its nearest frames of the target speaker instead, so every output frame
is built from the target's own speech. On WORLD features, done frame by frame, that alone sounds
rough: neighbouring output frames come from unrelated places, and the envelope jumps every 5 ms
(measured on real speech, docs/quality.md: DNSMOS 2.2 against 3.1 for the statistical conversion).
Here the nearest frames only give a *correction* to the statistical base ``b``::

    r_n   = mean of the k pool frames nearest to b_n  -  b_n      (per frame, level row(s): see below)
    base' = b + smooth_t(r)                                        (Gaussian along time, σ = knn_smooth)

so the output keeps the source's own frame-to-frame motion and takes the target's spectral shape at the
time scale of phones. The level row(s) are left out of ``r``, so the base keeps the source's level
contour, unless ``knn_level`` is above 0: then, after the last pass, that share of the level residual
is applied once where it lowers a frame (never where it would raise one; :func:`knn_correction`,
docs/quality.md, items 16 and 17).

The smoothing leaves part of each frame's residual undone (it averages the residuals of neighbouring
frames whose matches disagree); with ``knn_iters`` above 1 the step repeats from ``base'``, and each
further pass, matching frames already nearer the target's, closes more of what is left while the
output stays smooth (docs/quality.md, item 15). Matching uses ``knn_context`` frames either side (the
distance of a frame is summed over its neighbourhood, so a frame is matched within its phone, not
alone), voiced frames only match voiced pool frames (unvoiced only unvoiced: a voiced frame on a
fricative's envelope buzzes), and each dimension counts by its spread over the target pool's voiced
frames (:func:`match_scale`), not over the whole corpus (docs/quality.md, item 13).

The pool of each training domain is up to ``knn_pool_frames`` normalised frames of its training
utterances, kept in the checkpoint (:class:`FramePool`), so conversion needs nothing else; a
reference clip's own frames are its pool for conversion to an unseen voice. The correction carries no
gradient: it is a fixed function of the frames, like the statistical base under it.

The same matches also give an *intonation* (``model.knn_intonation``, used by the converter): each
pool frame keeps its log-F0, z-scored by its speaker's statistics, and :meth:`FramePool.correction`
(``intonation=True``) also returns, per frame, the mean of its matched frames' values, smoothed along
the voiced frames (:func:`matched_intonation`). The converter mixes it into the source's z-scored
log-F0 before the log-Gaussian transform, so the output takes some of the target's own pitch movement
on each sound, not only its register and range (docs/quality.md, item 11).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

#: Added to the distance of a pool frame whose voicing differs from the query's, so it is chosen
#: only when the pool has no frame of the query's voicing at all.
VOICING_PENALTY = 1e6
#: Query frames matched per block, bounding the distance matrix to ``block x pool`` floats.
QUERY_BLOCK = 512
#: Standard deviation, in frames, of the Gaussian that smooths the matched frames' intonation.
INTONATION_SMOOTH = 5.0


def match_features(x: torch.Tensor, kind: str) -> torch.Tensor:
    """The part of normalised frames ``x (..., Q)`` that matching compares: WORLD drops row 0 (c0,
    the frame's level); mel removes each frame's mean (its level) so loudness does not decide."""
    if kind == "world":
        return x[..., 1:]
    return x - x.mean(dim=-1, keepdim=True)


def level_part(r: torch.Tensor, kind: str) -> torch.Tensor:
    """The level part of a correction ``r (..., Q)``, shaped like it: row 0 on WORLD (c0), zeros
    elsewhere; on mel each frame's mean, in every row."""
    if kind == "world":
        return torch.cat([r[..., :1], torch.zeros_like(r[..., 1:])], dim=-1)
    return r.mean(dim=-1, keepdim=True).expand_as(r)


def keep_energy(r: torch.Tensor, kind: str) -> torch.Tensor:
    """A correction ``r (..., Q)`` with its level part (:func:`level_part`) removed, so the base keeps
    the source's level contour."""
    return r - level_part(r, kind)


def match_scale(p_match: torch.Tensor, p_voiced: torch.Tensor) -> torch.Tensor:
    """Per-dimension weights ``(D,)`` of the matching distance: the inverse standard deviation of the
    pool's voiced frames (all its frames when fewer than two are voiced), so each dimension counts by
    how much it varies *within the target's speech*, not across the whole corpus."""
    ref = p_match[p_voiced] if int(p_voiced.sum()) >= 2 else p_match
    if ref.shape[0] < 2:
        return torch.ones(p_match.shape[-1], dtype=p_match.dtype, device=p_match.device)
    return 1.0 / ref.std(dim=0).clamp_min(1e-3)


def _pad_frames(x: torch.Tensor, c: int) -> torch.Tensor:
    """``x (M, D)`` with its first and last frame repeated ``c`` times at either end."""
    return torch.cat([x[:1].expand(c, -1), x, x[-1:].expand(c, -1)], dim=0) if c else x


def nearest(query: torch.Tensor, q_voiced: torch.Tensor, pool: torch.Tensor, p_voiced: torch.Tensor,
            k: int, context: int, excluded: torch.Tensor | None = None) -> torch.Tensor:
    """Indices ``(N, k)`` of the ``k`` pool frames nearest to each query frame.

    ``query (N, D)`` and ``pool (M, D)`` are matching features (:func:`match_features`), ``q_voiced
    (N,)`` and ``p_voiced (M,)`` bool. The squared distance of a pair is summed over ``context``
    frames either side of both (edges repeat their end frame), plus :data:`VOICING_PENALTY` when the
    centre frames' voicing differs. Pool frames flagged in ``excluded (M,)`` bool are never chosen
    while ``k`` others remain.
    """
    n, m = query.shape[0], pool.shape[0]
    k = min(k, m)
    c = context
    pool_p = _pad_frames(pool, c)                                   # (M + 2c, D)
    pool_sq = (pool_p**2).sum(-1)
    penalty = None
    if bool(p_voiced.any()) and bool((~p_voiced).any()):
        penalty = (q_voiced[:, None] != p_voiced[None, :]).to(query.dtype) * VOICING_PENALTY
    if excluded is not None and bool(excluded.any()):
        k = min(k, int((~excluded).sum())) or k
        banned = excluded.to(query.dtype)[None, :] * (2 * VOICING_PENALTY)
        penalty = banned if penalty is None else penalty + banned
    out = []
    for start in range(0, n, QUERY_BLOCK):
        stop = min(n, start + QUERY_BLOCK)
        lo, hi = max(0, start - c), min(n, stop + c)
        q = query[lo:hi]
        # repeat the clip's own edge frames where the block's context runs past them
        q = torch.cat([q[:1].expand(c - (start - lo), -1), q, q[-1:].expand(c - (hi - stop), -1)], dim=0)
        d = (q**2).sum(-1, keepdim=True) - 2.0 * q @ pool_p.T + pool_sq  # (b + 2c, M + 2c)
        total = _diagonal_sums(d, c, stop - start, m)
        if penalty is not None:
            total += penalty[start:stop]
        out.append(total.topk(k, dim=-1, largest=False).indices)
    return torch.cat(out, dim=0)


def _diagonal_sums(d: torch.Tensor, c: int, n: int, m: int) -> torch.Tensor:
    """``T[i, j] = sum_{t=0..2c} d[i + t, j + t]`` for ``d (n + 2c, m + 2c)``: each pair's distance
    summed over the ``2c + 1`` aligned frame pairs around it, as ``(n, m)``.

    Cumulative sums along the diagonals (one row-shifted add per row, in float64 so that the
    differences of long sums keep their precision), then one difference: about three passes over the
    matrix whatever ``c``, instead of ``2c + 1``."""
    if c == 0:
        return d[:n, :m].clone()
    acc = d.double()
    for i in range(1, acc.shape[0]):
        acc[i, 1:] += acc[i - 1, :-1]
    total = acc[2 * c : 2 * c + n, 2 * c : 2 * c + m].clone()
    total[1:, 1:] -= acc[: n - 1, : m - 1]
    return total.to(d.dtype)


def gaussian_smooth(r: torch.Tensor, sigma: float) -> torch.Tensor:
    """``r (B, N, Q)`` smoothed along N by a Gaussian of ``sigma`` frames (edges repeated)."""
    if sigma <= 0:
        return r
    radius = max(1, int(math.ceil(3.0 * sigma)))
    t = torch.arange(-radius, radius + 1, dtype=r.dtype, device=r.device)
    kernel = torch.exp(-0.5 * (t / sigma) ** 2)
    kernel = kernel / kernel.sum()
    b, n, q = r.shape
    x = r.permute(0, 2, 1).reshape(b * q, 1, n)
    x = F.pad(x, (radius, radius), mode="replicate")
    return F.conv1d(x, kernel.view(1, 1, -1)).reshape(b, q, n).permute(0, 2, 1)


def matches(frames: torch.Tensor, voiced: torch.Tensor, pool: torch.Tensor, pool_voiced: torch.Tensor,
            kind: str, k: int, context: int, excluded: list[torch.Tensor | None] | None = None) -> list[torch.Tensor]:
    """Per row of ``frames (B, N, Q)`` (``voiced (B, N)`` bool), the indices ``(N, k)`` of its nearest
    frames of ``pool (M, Q)`` (``pool_voiced (M,)``), on the matching features weighed by
    :func:`match_scale`; ``excluded``: per row, pool frames it may not use."""
    p_voiced = pool_voiced.to(frames.device).bool()
    p_match = match_features(pool, kind)
    scale = match_scale(p_match, p_voiced)
    excluded = excluded or [None] * len(frames)
    return [nearest(match_features(f, kind) * scale, v.to(frames.device).bool(), p_match * scale, p_voiced, k,
                    context, ex)
            for f, v, ex in zip(frames, voiced, excluded)]


def knn_correction(base: torch.Tensor, voiced: torch.Tensor, pool: torch.Tensor, pool_voiced: torch.Tensor,
                   kind: str, k: int, context: int, smooth: float,
                   excluded: list[torch.Tensor | None] | None = None, pool_lf0z: torch.Tensor | None = None,
                   iters: int = 1, level: float = 0.0):
    """The correction ``(B, 1, Q, N)`` that moves ``base (B, 1, Q, N)`` towards its nearest frames of
    one pool (``pool (M, Q)``, ``pool_voiced (M,)`` bool); ``voiced (B, N)`` bool (module docstring);
    ``excluded``: per row, pool frames it may not use (``(M,)`` bool or None). With ``pool_lf0z (M,)``
    (the pool frames' z-scored log-F0) it returns ``(correction, intonation)``, the second from the
    last pass's matches (:func:`matched_intonation`).

    ``iters`` passes: each matches the base as corrected so far and adds its smoothed residual, so
    each closes more of the gap that the previous pass's smoothing left (module docstring); the passes
    leave each frame's level alone (:func:`keep_energy`). ``level``: after them, that share of the
    last matches' level part (:func:`level_part`) is applied once, only where it lowers a frame."""
    start = base.detach()[:, 0].transpose(1, 2).float()                 # (B, N, Q)
    pool = pool.to(device=start.device, dtype=torch.float32)
    frames = start
    for _ in range(iters):
        idx = matches(frames, voiced, pool, pool_voiced, kind, k, context, excluded)
        near = torch.stack([pool[i].mean(1) for i in idx])              # (B, N, Q)
        frames = frames + gaussian_smooth(keep_energy(near - frames, kind), smooth)
    if level > 0.0:
        # Once, from the last pass's matches, where they are quieter than the frame (never raising one:
        # that lifts breath and noise, docs/quality.md item 16). The passes left the level alone, so each
        # frame is lowered from the source's level once, not again in every pass (item 17).
        frames = frames + gaussian_smooth(level * level_part(near - frames, kind).clamp(max=0.0), smooth)
    correction = (frames - start).transpose(1, 2)[:, None].to(base.dtype)
    if pool_lf0z is None:
        return correction
    return correction, matched_intonation(idx, voiced, pool_voiced, pool_lf0z)


def matched_intonation(idx: list[torch.Tensor], voiced: torch.Tensor, pool_voiced: torch.Tensor,
                       pool_lf0z: torch.Tensor, smooth: float = INTONATION_SMOOTH) -> torch.Tensor:
    """The target's intonation ``(B, N)`` from each row's matches ``idx`` (``(N, k)`` pool indices,
    :func:`nearest`): per frame the mean z-scored log-F0 ``pool_lf0z (M,)`` of its voiced matches,
    smoothed along time over the voiced frames only (``voiced (B, N)``; a Gaussian of ``smooth``
    frames, normalised by the voiced frames it covers), 0 on unvoiced frames."""
    dev = idx[0].device
    lf0z = pool_lf0z.to(device=dev, dtype=torch.float32)
    p_voiced = pool_voiced.to(dev).bool()
    out = []
    for i in idx:
        w = p_voiced[i].float()                                          # (N, k)
        out.append((lf0z[i] * w).sum(1) / w.sum(1).clamp_min(1.0))      # unvoiced matches count for nothing
    z = torch.stack(out)                                                 # (B, N)
    v = voiced.to(dev).float()
    num = gaussian_smooth((z * v)[..., None], smooth)[..., 0]
    den = gaussian_smooth(v[..., None], smooth)[..., 0]
    return torch.where(v > 0, num / den.clamp_min(1e-6), torch.zeros_like(z))


class FramePool(nn.Module):
    """Each domain's pool of normalised training frames, as buffers saved with the nets.

    ``frames (T, Q)`` float16 (half the checkpoint size; matching is done in float32), ``voiced (T,)``
    bool, ``lf0z (T,)`` float16 each frame's log-F0 z-scored by its domain's statistics (0 unvoiced;
    empty in checkpoints made before it existed), ``utts (T,)`` the index of each frame's utterance in
    the dump's train manifest (so a clip can be rebuilt from its speaker's *other* utterances),
    ``offsets (K + 1,)``: domain ``k``'s frames are ``frames[offsets[k]:offsets[k + 1]]``. Built empty
    by the family and filled by :meth:`fill` before training.
    """

    def __init__(self, num_domains: int, dim_q: int, kind: str, k: int = 4, context: int = 8,
                 smooth: float = 3.0, max_frames: int = 20000, iters: int = 1, level: float = 0.0):
        super().__init__()
        self.kind, self.k, self.context, self.smooth, self.max_frames = kind, k, context, smooth, max_frames
        self.iters, self.level = iters, level
        self.register_buffer("frames", torch.zeros(0, dim_q, dtype=torch.float16))
        self.register_buffer("voiced", torch.zeros(0, dtype=torch.bool))
        self.register_buffer("lf0z", torch.zeros(0, dtype=torch.float16))
        self.register_buffer("utts", torch.zeros(0, dtype=torch.int32))
        self.register_buffer("offsets", torch.zeros(num_domains + 1, dtype=torch.long))
        self._cache: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # Checkpoints made before the pool kept its frames' pitch have no intonation: an empty one.
        state_dict.setdefault(prefix + "lf0z", torch.zeros(0, dtype=torch.float16))
        # The pool's size is only known once filled: take the stored one.
        for name in ("frames", "voiced", "lf0z", "utts"):
            if prefix + name in state_dict:
                setattr(self, name, torch.empty_like(state_dict[prefix + name], device=getattr(self, name).device))
        self._cache.clear()
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _apply(self, fn, recurse=True):
        self._cache = {}
        return super()._apply(fn, recurse)

    def fill(self, dump, domains: list[str], seed: int = 0) -> None:
        """Take up to ``max_frames`` frames of each domain's training utterances (whole utterances,
        in a seeded random order), normalised with the dump's statistics."""
        from vc.errors import DataError

        train = dump.utterances("train")
        frames, voiced, lf0z, utt_ids, offsets = [], [], [], [], [0]
        for i, d in enumerate(domains):
            mine = [j for j, u in enumerate(train) if u.domain == d]
            order = np.random.default_rng([seed, i]).permutation(len(mine))
            taken = 0
            for j in order:
                if taken >= self.max_frames:
                    break
                f = dump.load(train[mine[j]].utt_id)
                x = dump.stats.normalize(f.feats)[: self.max_frames - taken]
                frames.append(x.astype(np.float32))
                voiced.append(f.f0[: len(x)] > 0)
                lf0z.append(dump.stats.f0_normalized(f.f0[: len(x)], d))
                utt_ids.append(np.full(len(x), mine[j], dtype=np.int32))
                taken += len(x)
            if taken == 0:
                raise DataError(f"model.generator_base: knn needs training frames of every domain; {d!r} has none")
            offsets.append(offsets[-1] + taken)
        dev = self.frames.device
        self.frames = torch.from_numpy(np.concatenate(frames)).to(dev, torch.float16)
        self.voiced = torch.from_numpy(np.concatenate(voiced)).to(dev)
        self.lf0z = torch.from_numpy(np.concatenate(lf0z)).to(dev, torch.float16)
        self.utts = torch.from_numpy(np.concatenate(utt_ids)).to(dev)
        self.offsets.copy_(torch.tensor(offsets, dtype=torch.long))
        self._cache.clear()

    def _span(self, k: int) -> tuple[int, int]:
        lo, hi = int(self.offsets[k]), int(self.offsets[k + 1])
        if hi <= lo:
            raise RuntimeError(f"frame pool of domain {k} is empty (filled from the dump before training?)")
        return lo, hi

    def domain(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Domain ``k``'s pool: ``frames (M, Q)`` float32 and ``voiced (M,)`` bool."""
        k = int(k)
        if k not in self._cache:
            lo, hi = self._span(k)
            self._cache[k] = (self.frames[lo:hi].float(), self.voiced[lo:hi])
        return self._cache[k]

    @property
    def has_intonation(self) -> bool:
        """Whether the pool kept its frames' pitch (checkpoints made before it did not)."""
        return self.lf0z.numel() == self.frames.shape[0] > 0

    @torch.no_grad()
    def correction(self, base: torch.Tensor, voiced: torch.Tensor, targets: torch.Tensor | None = None,
                   pool: tuple[torch.Tensor, ...] | None = None, leave_out: torch.Tensor | None = None,
                   intonation: bool = False):
        """:func:`knn_correction` of ``base (B, 1, Q, N)`` (``voiced (B, N)``) towards each row's
        target domain ``targets (B,)``, or towards one explicit ``pool`` ``(frames (M, Q), voiced (M,)
        [, lf0z (M,)])``. ``leave_out (B,)``: per row, a train-manifest utterance index whose frames it
        may not use (-1: none). ``intonation``: return ``(correction, intonation (B, N) or None)``, the
        second from the last pass's matches; None when the pool kept no pitch (a checkpoint made before it
        did, or a pool without ``lf0z``)."""
        voiced = voiced.bool()
        settings = dict(kind=self.kind, k=self.k, context=self.context, smooth=self.smooth, iters=self.iters,
                        level=self.level)
        if pool is not None:
            if intonation and len(pool) > 2:
                return knn_correction(base, voiced, pool[0], pool[1], **settings, pool_lf0z=pool[2])
            out = knn_correction(base, voiced, pool[0], pool[1], **settings)
            return (out, None) if intonation else out
        if targets is None:
            raise ValueError("FramePool.correction: give the target domains or a pool")
        pitch = intonation and self.has_intonation
        out = torch.zeros_like(base)
        z = torch.zeros(base.shape[0], base.shape[-1], device=base.device) if pitch else None
        targets = targets.to(base.device).long()
        for t in torch.unique(targets).tolist():
            rows = targets == t
            lo, hi = self._span(t)
            excluded = None
            if leave_out is not None:
                utts = self.utts[lo:hi]
                excluded = [utts == int(u) if int(u) >= 0 else None for u in leave_out[rows].tolist()]
            if pitch:
                out[rows], z[rows] = knn_correction(base[rows], voiced[rows], *self.domain(t), **settings,
                                                    excluded=excluded, pool_lf0z=self.lf0z[lo:hi])
            else:
                out[rows] = knn_correction(base[rows], voiced[rows], *self.domain(t), **settings, excluded=excluded)
        return (out, z) if intonation else out
