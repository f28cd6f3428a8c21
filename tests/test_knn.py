"""The kNN base (model.generator_base: knn): matching, the correction it adds, its frame pool."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import tiny_experiment

from vc.models import knn


def _frames(n: int, q: int = 6, seed: int = 0) -> torch.Tensor:
    """A smooth random trajectory ``(n, q)``: neighbouring frames alike, distant ones not."""
    g = torch.Generator().manual_seed(seed)
    steps = torch.randn(n, q, generator=g) * 0.3
    return steps.cumsum(0)


@pytest.mark.parametrize("context", [0, 3])
def test_a_frame_of_the_pool_finds_itself(context):
    pool = _frames(300)
    voiced = torch.ones(300, dtype=torch.bool)
    idx = knn.nearest(pool[50:120], voiced[50:120], pool, voiced, k=1, context=context)
    assert torch.equal(idx[:, 0], torch.arange(50, 120))


def test_context_matches_a_frame_within_its_surroundings():
    """Two pool frames equal to the query frame: context picks the one whose neighbours also match."""
    pool = _frames(200)
    query = pool[100:110].clone()
    pool[30] = query[5]  # a lone copy of the middle frame, in the wrong surroundings
    pool[105] += 0.01    # the true one, slightly off
    ones = torch.ones(200, dtype=torch.bool)
    assert knn.nearest(query, ones[:10], pool, ones, k=1, context=0)[5, 0] == 30
    assert knn.nearest(query, ones[:10], pool, ones, k=1, context=2)[5, 0] == 105


def test_voiced_frames_only_match_voiced_pool_frames():
    pool = _frames(100)
    p_voiced = torch.arange(100) % 2 == 0
    q_voiced = torch.tensor([True, False] * 20)
    idx = knn.nearest(pool[:40], q_voiced, pool, p_voiced, k=3, context=1)
    assert torch.equal(p_voiced[idx], q_voiced[:, None].expand(-1, 3))
    # a pool without any unvoiced frame still answers every query
    everything = torch.ones(100, dtype=torch.bool)
    assert knn.nearest(pool[:40], q_voiced, pool, everything, k=3, context=1).shape == (40, 3)


def test_distance_weighs_each_dimension_by_its_spread_in_the_target_pool():
    """A pool whose row 1 varies widely and row 2 hardly at all (row 0, WORLD's level, is ignored):
    a frame 3 units off in row 1 (a third of its spread) is nearer than one 0.5 off in row 2 (five
    times its spread), though the raw distance says the opposite."""
    g = torch.Generator().manual_seed(0)
    signs = torch.tensor([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]]).repeat(100, 1)
    pool = torch.zeros(400, 3)
    pool[:, 1:] = signs * torch.tensor([10.0, 0.1])   # every frame one spread away in both rows
    voiced = torch.ones(400, dtype=torch.bool)
    scale = knn.match_scale(knn.match_features(pool, "world"), voiced)
    assert scale.tolist() == pytest.approx([1 / 10.0, 1 / 0.1], rel=0.05)
    pool[0] = torch.tensor([0.0, 3.0, 0.0])
    pool[1] = torch.tensor([0.0, 0.0, 0.5])
    query = torch.zeros(1, 1, 3, 1)
    raw = knn.nearest(knn.match_features(query[0, 0].T, "world"), voiced[:1],
                      knn.match_features(pool, "world"), voiced, k=1, context=0)
    assert raw[0, 0] != 0
    idx = knn.matches(query[:, 0].transpose(1, 2), voiced[None, :1], pool, voiced, "world", k=1, context=0)
    assert idx[0][0, 0] == 0
    # only the pool's voiced frames set the spread
    unvoiced_wide = torch.cat([pool, torch.randn(400, 3, generator=g) * 100.0])
    v = torch.cat([voiced, torch.zeros(400, dtype=torch.bool)])
    assert torch.allclose(knn.match_scale(knn.match_features(unvoiced_wide, "world"), v),
                          knn.match_scale(knn.match_features(pool, "world"), voiced))


def test_matching_in_blocks_equals_matching_at_once(monkeypatch):
    pool, query = _frames(400, seed=1), _frames(130, seed=2)
    pv, qv = torch.rand(400) > 0.3, torch.rand(130) > 0.3
    whole = knn.nearest(query, qv, pool, pv, k=4, context=5)
    monkeypatch.setattr(knn, "QUERY_BLOCK", 16)
    blocked = knn.nearest(query, qv, pool, pv, k=4, context=5)
    assert torch.equal(whole.sort(1).values, blocked.sort(1).values)


@pytest.mark.parametrize("kind", ["world", "mel"])
def test_correction_moves_the_shape_and_keeps_the_level(kind):
    q, n = 8, 60
    pool = _frames(200, q)
    base = pool[20 : 20 + n].clone()
    base[:, 1:] += 0.05  # the same frames with their shape moved a little (and, for mel, their level)
    voiced = torch.ones(1, n, dtype=torch.bool)
    r = knn.knn_correction(base.T[None, None], voiced, pool, torch.ones(200, dtype=torch.bool), kind,
                           k=1, context=2, smooth=0.0)[0, 0].T
    if kind == "world":
        assert torch.all(r[:, 0] == 0)  # c0, the level, is the base's
        assert torch.allclose(r[:, 1:], torch.full((n, q - 1), -0.05), atol=1e-4)
    else:
        assert torch.allclose(r.mean(1), torch.zeros(n), atol=1e-5)  # each frame's level is the base's
        want = knn.keep_energy(pool[20 : 20 + n] - base, "mel")
        assert torch.allclose(r, want, atol=1e-4)


def _level(frames: torch.Tensor, kind: str) -> torch.Tensor:
    """Each frame's level in ``frames (N, Q)``: c0 on WORLD, the mean over bands on mel."""
    return frames[:, 0] if kind == "world" else frames.mean(1)


@pytest.mark.parametrize("kind", ["world", "mel"])
def test_level_share_lowers_frames_louder_than_their_matches_and_raises_none(kind):
    q, n = 8, 60
    pool = _frames(200, q)
    base = pool[20 : 20 + n].clone()
    gain = torch.where(torch.arange(n) < n // 2, 0.4, -0.4)[:, None]  # first half louder, then quieter
    if kind == "world":
        base[:, :1] += gain  # c0
    else:
        base += gain  # every band of a log-mel frame
    base[:, 1:] += 0.05  # and their shape moved a little
    args = (base.T[None, None], torch.ones(1, n, dtype=torch.bool), pool, torch.ones(200, dtype=torch.bool), kind)
    louder, quieter = slice(0, n // 2), slice(n // 2, n)
    full = knn.knn_correction(*args, k=1, context=2, smooth=0.0, level=1.0)[0, 0].T
    assert torch.allclose((base + full)[louder], pool[20 : 20 + n // 2], atol=1e-4)  # lowered to the match
    assert torch.all(_level(full, kind)[quieter] >= -1e-5)  # never raised: a quiet frame keeps its level
    assert torch.allclose(_level(full, kind)[quieter], torch.zeros(n // 2), atol=0.1)
    none = knn.knn_correction(*args, k=1, context=2, smooth=0.0)[0, 0].T
    assert torch.allclose(_level(none, kind), torch.zeros(n), atol=1e-5)  # level 0: the source's contour
    half = knn.knn_correction(*args, k=1, context=2, smooth=0.0, level=0.5)[0, 0].T
    assert torch.allclose(half, (none + full) / 2, atol=1e-5)


@pytest.mark.parametrize("kind", ["world", "mel"])
def test_level_is_lowered_once_after_the_passes_from_the_last_matches(kind):
    """With several passes the level is not lowered again in each (which compounds under smoothing):
    the passes move the shape only, then the last matches' level part lowers each frame once."""
    q, n, sigma = 8, 60, 3.0
    pool = _frames(200, q)
    base = pool[20 : 20 + n].clone() + torch.randn(n, q, generator=torch.Generator().manual_seed(3)) * 0.2
    gain = torch.where(torch.arange(n) < n // 2, 0.6, -0.6)[:, None]
    if kind == "world":
        base[:, :1] += gain  # c0
    else:
        base += gain  # every band of a log-mel frame
    voiced, pool_voiced = torch.ones(1, n, dtype=torch.bool), torch.ones(200, dtype=torch.bool)
    args = (base.T[None, None], voiced, pool, pool_voiced, kind)
    opts = dict(k=2, context=2, smooth=sigma, iters=3)
    shape = knn.knn_correction(*args, **opts)[0, 0].T  # level 0: the passes alone
    before_last = base + knn.knn_correction(*args, **{**opts, "iters": 2})[0, 0].T
    idx = knn.matches(before_last[None], voiced, pool, pool_voiced, kind, 2, 2)[0]
    near = pool[idx].mean(1)
    part = knn.level_part(near - (base + shape), kind).clamp(max=0.0)
    want = shape + knn.gaussian_smooth(part[None], sigma)[0]
    got = knn.knn_correction(*args, **opts, level=1.0)[0, 0].T
    assert torch.allclose(got, want, atol=1e-4)
    assert bool((part < -0.1).any())  # the louder half was lowered...
    assert torch.allclose(_level(shape, kind), torch.zeros(n), atol=1e-5)  # ...by that step alone


def test_correction_is_smoothed_along_time():
    q, n = 6, 80
    pool = _frames(300, q)
    base = pool[100 : 100 + n] + torch.randn(n, q) * 0.5  # frame-by-frame jitter away from the pool
    ones = torch.ones(300, dtype=torch.bool)
    args = (base.T[None, None], ones[None, :n], pool, ones, "world")
    rough = knn.knn_correction(*args, k=1, context=2, smooth=0.0)[0, 0]
    smooth = knn.knn_correction(*args, k=1, context=2, smooth=3.0)[0, 0]
    assert smooth.diff(dim=1).abs().mean() < 0.5 * rough.diff(dim=1).abs().mean()
    assert torch.allclose(smooth.mean(1), rough.mean(1), atol=0.05)  # smoothing keeps the average


def test_each_pass_matches_again_from_the_corrected_base():
    q, n = 6, 50
    pool = _frames(300, q)
    base = (pool[100 : 100 + n] + 1.0 + torch.randn(n, q, generator=torch.Generator().manual_seed(3)) * 0.3)
    base = base.T[None, None]
    ones = torch.ones(300, dtype=torch.bool)
    lf0z = torch.linspace(-1, 1, 300)
    args = (ones[None, :n], pool, ones, "world")
    kw = dict(k=2, context=2, smooth=2.0)
    first = knn.knn_correction(base, *args, **kw)
    second, z = knn.knn_correction(base + first, *args, **kw, pool_lf0z=lf0z)
    both, z_both = knn.knn_correction(base, *args, **kw, iters=2, pool_lf0z=lf0z)
    assert torch.allclose(both, first + second, atol=1e-5)
    assert torch.allclose(z_both, z)  # the intonation comes from the last pass's matches


def test_more_passes_leave_a_smaller_gap_to_the_matched_frames():
    """Smoothing leaves part of each frame's residual to its matches; every further pass closes more."""
    q, n = 6, 80
    pool = _frames(400, q, seed=1)
    base = (_frames(n, q, seed=5) * 2).T[None, None]  # another voice's trajectory: its matches disagree
    ones = torch.ones(400, dtype=torch.bool)
    kw = dict(kind="world", k=4, context=4, smooth=3.0)

    def gap(iters: int) -> float:
        out = base + knn.knn_correction(base, ones[None, :n], pool, ones, iters=iters, **kw)
        rest = knn.knn_correction(out, ones[None, :n], pool, ones, **(kw | {"smooth": 0.0}))
        return float(rest[0, 0, 1:].norm(dim=0).mean())

    gaps = [gap(i) for i in (1, 2, 3)]
    assert gaps[1] < 0.8 * gaps[0] and gaps[2] < gaps[1]


def test_gaussian_smooth_keeps_a_constant():
    x = torch.full((2, 30, 3), 1.5)
    assert torch.allclose(knn.gaussian_smooth(x, 2.0), x)


def test_frame_pool_from_a_dump_round_trips_through_a_state_dict(world_dump):
    from vc.data.dump import Dump

    dump = Dump(world_dump.data.dump_dir, world_dump.features)
    pool = knn.FramePool(len(dump.domains), world_dump.features.dim, "world", max_frames=150)
    pool.fill(dump, list(dump.domains))
    for k in range(len(dump.domains)):
        frames, voiced = pool.domain(k)
        assert frames.shape == (150, world_dump.features.dim) and voiced.dtype == torch.bool
        assert bool(voiced.any()) and bool((~voiced).any())
    # the frames are the dump's normalised training frames (whole utterances, from their start)
    frames = pool.domain(0)[0].numpy()
    train = [u for u in dump.utterances("train") if u.domain == dump.domains[0]]
    starts = [dump.stats.normalize(dump.load(u.utt_id).feats)[:20] for u in train]
    assert any(np.allclose(frames[:20], s, atol=2e-2) for s in starts)
    fresh = knn.FramePool(len(dump.domains), world_dump.features.dim, "world")
    fresh.load_state_dict(pool.state_dict())
    assert torch.equal(fresh.frames, pool.frames) and torch.equal(fresh.offsets, pool.offsets)
    with pytest.raises(RuntimeError, match="empty"):
        knn.FramePool(2, 4, "world").domain(0)


def test_knn_base_trains_and_converts(world_dump, tmp_path):
    """A tiny StarGAN v2 on the kNN base: it trains, its checkpoint carries the pool, and at strength 0
    conversion gives exactly the warped statistical conversion plus the kNN correction."""
    import vc
    from vc.audio import load
    from vc.models.stargan_v2 import generator_input
    from vc.train import train

    exp = tiny_experiment(world_dump, tmp_path / "exp", model=dict(generator_base="knn", f0_net_steps=0,
                                                                    knn_pool_frames=300, knn_iters=2,
                                                                    knn_level=0.5),
                          train=dict(max_steps=4, eval_every=0, save_every=0))
    ckpt = train(exp, device="cpu")
    conv = vc.load(ckpt, device="cpu", strength=0.0)
    assert conv.nets["pool"].frames.shape == (3 * 300, world_dump.features.dim)
    assert conv.nets["pool"].iters == 2  # the matching passes travel with the checkpoint's config
    assert conv.nets["pool"].level == 0.5
    from vc.data.dump import Dump

    dump = Dump(world_dump.data.dump_dir, world_dump.features)
    u = dump.utterances("test")[0]
    target = next(d for d in conv.domains if d != u.domain)
    wav = load(u.path, conv.sample_rate)
    out = conv.convert(wav, conv.style(target=target, seed=0), source=u.domain)
    assert out.shape == wav.shape and np.isfinite(out).all()
    # strength 0 is the base: warped moments plus the correction towards the target's frames
    feats, x = conv._feature_image(wav)
    f0n = torch.from_numpy(conv._f0_norm(feats.f0, u.domain))[None]
    src, tgt = torch.tensor([conv.domains.index(u.domain)]), torch.tensor([conv.domains.index(target)])
    style = conv.style(target=target, seed=0)
    got = conv.family.convert(conv.nets, x, f0n, int(src), int(tgt), style.vector, strength=0.0)
    from vc.models.moments import apply_shift

    shifted = apply_shift(x, conv.nets["moments"].shift(src, tgt))
    assert torch.allclose(got, generator_input(conv.nets, x, src, tgt, voiced=f0n != 0))
    assert not torch.allclose(got, shifted)  # the correction is there...
    assert not torch.allclose(got[0, 0, 0], shifted[0, 0, 0])  # ...and with knn_level 0.5 lowers c0 in places,
    assert torch.all(got[0, 0, 0] <= shifted[0, 0, 0] + 1e-5)  # raising it nowhere
    conv.nets["pool"].level = 0.0
    kept = generator_input(conv.nets, x, src, tgt, voiced=f0n != 0)
    assert torch.equal(kept[0, 0, 0], shifted[0, 0, 0])  # at level 0 c0, the level, is the base's own


def _pool_of(frames: torch.Tensor, utts: torch.Tensor, **kw) -> knn.FramePool:
    pool = knn.FramePool(1, frames.shape[1], "world", **kw)
    pool.frames = frames.half()
    pool.voiced = torch.ones(len(frames), dtype=torch.bool)
    pool.utts = utts.int()
    pool.offsets.copy_(torch.tensor([0, len(frames)]))
    return pool


def test_leaving_a_clips_own_utterance_out_of_the_pool():
    """Rebuilding a training clip from its own speaker's frames must not use the clip itself."""
    frames = _frames(200, 6).half().float()
    pool = _pool_of(frames, torch.tensor([0] * 100 + [1] * 100), k=1, context=2, smooth=0.0)
    x = frames[20:60].T[None, None]
    voiced = torch.ones(1, 40, dtype=torch.bool)
    assert torch.equal(pool.correction(x, voiced, targets=torch.tensor([0])), torch.zeros_like(x))
    kept_out = pool.correction(x, voiced, targets=torch.tensor([0]), leave_out=torch.tensor([0]))
    assert kept_out.abs().sum() > 0  # it had to use utterance 1
    idx = knn.nearest(x[0, 0].T[:, 1:], voiced[0], frames[:, 1:], pool.voiced, 1, 2,
                      excluded=pool.utts == 0)
    assert torch.all(idx >= 100)
    # -1 (a clip outside the train split) leaves nothing out
    assert torch.equal(pool.correction(x, voiced, targets=torch.tensor([0]), leave_out=torch.tensor([-1])),
                       torch.zeros_like(x))


def test_prematch_loss_trains_the_generator_to_undo_the_base():
    from test_families import make_batch, tiny_config

    from vc.losses.stargan_v2 import g_loss
    from vc.models import get_family

    fam = get_family("stargan_v2")
    cfg = tiny_config("stargan_v2", lambda_prematch=2.0)
    cfg.features.kind = "world"
    cfg.model.generator_base = "knn"
    batch = make_batch(q=36)
    nets = fam.build(cfg, 36, 3)
    assert set(nets) >= {"moments", "pool"}
    order = [0, 3, 1, 2]  # the clips of domain 0 (y = 0, 1, 2, 0), then of domains 1 and 2
    per = batch["x"].shape[-1]
    frames = batch["x"][order, 0].transpose(1, 2).reshape(-1, 36)
    pool = nets["pool"]
    pool.frames, pool.voiced = frames.half(), torch.ones(len(frames), dtype=torch.bool)
    pool.utts = torch.tensor(order).repeat_interleave(per).int()
    pool.offsets.copy_(torch.tensor([0, per * 2, per * 3, per * 4]))
    batch["utt"] = torch.arange(4)
    loss, logs = g_loss(nets, batch, 0, cfg, {})
    assert "pre" in logs and logs["pre"] > 0
    nets["generator"].zero_grad()
    loss.backward()
    assert nets["generator"].stem.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("c", [0, 1, 4])
def test_diagonal_sums_add_each_pairs_neighbourhood(c):
    n, m = 7, 11
    d = torch.rand(n + 2 * c, m + 2 * c)
    want = torch.zeros(n, m)
    for t in range(2 * c + 1):
        want += d[t : t + n, t : t + m]
    assert torch.allclose(knn._diagonal_sums(d, c, n, m), want, atol=1e-5)


def test_intonation_is_the_matched_frames_pitch_over_voiced_frames_only():
    """Each frame takes the z-scored log-F0 of the pool frame it matches (itself, here); unvoiced
    frames get 0, and smoothing averages over voiced frames only."""
    frames = _frames(120, 6)
    voiced = torch.ones(120, dtype=torch.bool)
    voiced[40:60] = False
    lf0z = torch.linspace(-1.5, 1.5, 120) * voiced
    idx = knn.matches(frames[None], voiced[None], frames, voiced, "world", k=1, context=2)
    z = knn.matched_intonation(idx, voiced[None], voiced, lf0z, smooth=0.0)
    assert torch.allclose(z[0], lf0z, atol=1e-6)
    smooth = knn.matched_intonation(idx, voiced[None], voiced, lf0z, smooth=4.0)
    assert torch.all(smooth[0, 40:60] == 0)
    # next to the pause the unvoiced frames do not pull the average towards 0: it stays near the
    # voiced neighbours' values (a plain Gaussian would halve it)
    assert abs(float(smooth[0, 39]) - float(lf0z[30:40].mean())) < 0.1
    assert abs(float(smooth[0, 60]) - float(lf0z[60:70].mean())) < 0.1
    # a pool whose matched frames are all unvoiced gives no pitch, not NaN
    unvoiced_pool = torch.zeros(120, dtype=torch.bool)
    idx = knn.matches(frames[None], voiced[None], frames, unvoiced_pool, "world", k=2, context=0)
    none = knn.matched_intonation(idx, voiced[None], unvoiced_pool, lf0z, smooth=2.0)
    assert torch.isfinite(none).all() and torch.all(none == 0)


def test_frame_pool_keeps_its_frames_pitch_and_loads_older_checkpoints(world_dump):
    from vc.data.dump import Dump

    dump = Dump(world_dump.data.dump_dir, world_dump.features)
    pool = knn.FramePool(len(dump.domains), world_dump.features.dim, "world", max_frames=150)
    pool.fill(dump, list(dump.domains))
    assert pool.has_intonation
    voiced = pool.voiced
    assert torch.all(pool.lf0z[~voiced] == 0) and pool.lf0z[voiced].abs().sum() > 0
    # z-scored by each domain's own statistics: per domain, the mean over its voiced frames is moderate
    for k in range(len(dump.domains)):
        lo, hi = int(pool.offsets[k]), int(pool.offsets[k + 1])
        z = pool.lf0z[lo:hi].float()[pool.voiced[lo:hi]]
        assert abs(float(z.mean())) < 1.0
    state = {k: v for k, v in pool.state_dict().items() if k != "lf0z"}  # a checkpoint from before
    old = knn.FramePool(len(dump.domains), world_dump.features.dim, "world")
    old.load_state_dict(state)
    assert not old.has_intonation and torch.equal(old.frames, pool.frames)
    base = pool.domain(0)[0][:50].T[None, None]
    voiced50 = torch.ones(1, 50, dtype=torch.bool)
    r, z = pool.correction(base, voiced50, targets=torch.tensor([0]), intonation=True)
    assert z.shape == (1, 50) and torch.equal(r, pool.correction(base, voiced50, targets=torch.tensor([0])))
    # one search gives both: the intonation equals the stand-alone matching's
    lo, hi = int(pool.offsets[0]), int(pool.offsets[1])
    idx = knn.matches(base[:, 0].transpose(1, 2), voiced50, *pool.domain(0), "world", pool.k, pool.context)
    alone = knn.matched_intonation(idx, voiced50, pool.domain(0)[1], pool.lf0z[lo:hi])
    assert torch.allclose(z, alone)
    # a pool without its frames' pitch gives none
    assert old.correction(base, voiced50, targets=torch.tensor([0]), intonation=True)[1] is None


def test_converter_mixes_the_target_intonation_into_the_f0(world_dump, tmp_path):
    """``model.knn_intonation``: 0 is the log-Gaussian transform exactly; a share s replaces s of the
    source's z-scored log-F0 by the matched frames' before it; unvoiced frames stay unvoiced."""
    import vc
    from vc.audio import load
    from vc.data.dump import Dump
    from vc.train import train

    exp = tiny_experiment(world_dump, tmp_path / "exp", model=dict(generator_base="knn", f0_net_steps=0,
                                                                    knn_pool_frames=300, knn_intonation=0.5),
                          train=dict(max_steps=2, eval_every=0, save_every=0))
    conv = vc.load(train(exp, device="cpu"), device="cpu")
    dump = Dump(world_dump.data.dump_dir, world_dump.features)
    u = dump.utterances("test")[0]
    target = next(d for d in conv.domains if d != u.domain)
    wav = load(u.path, conv.sample_rate)
    style = conv.style(target=target, seed=0)
    feats, x = conv._feature_image(wav)
    f0n = torch.from_numpy(conv._f0_norm(feats.f0, u.domain))[None]
    src = conv.domains.index(u.domain)
    assert conv.wants_intonation(style)
    _, z = conv.family.convert(conv.nets, x, f0n, src, style.target, style.vector, intonation=True)
    z = z[0].numpy()
    assert z.shape == feats.f0.shape and np.isfinite(z).all()
    plain = conv._map_f0(feats.f0, u.domain, style)
    assert np.allclose(plain, conv.stats.convert_f0(feats.f0, u.domain, target))
    mixed = conv._map_f0(feats.f0, u.domain, style, z)
    voiced = feats.f0 > 0
    assert np.all(mixed[~voiced] == 0) and np.all(mixed[voiced] > 0)
    mu_t, sd_t = conv.target_lf0(style)
    want = 0.5 * conv._f0_norm(feats.f0, u.domain) + 0.5 * z
    assert np.allclose(np.log(mixed[voiced]), want[voiced] * sd_t + mu_t, atol=1e-4)
    assert not np.allclose(mixed, plain)
    conv.cfg.model.knn_intonation = 0.0
    assert not conv.wants_intonation(style)
    out = conv.convert(wav, style, source=u.domain)
    assert out.shape == wav.shape and np.isfinite(out).all()


def test_knn_shares_must_be_shares():
    from vc.models.config import ModelConfig

    with pytest.raises(ValueError, match="knn_intonation"):
        ModelConfig(knn_intonation=1.5)
    with pytest.raises(ValueError, match="knn_level"):
        ModelConfig(knn_level=-0.1)
    with pytest.raises(ValueError, match="knn_iters"):
        ModelConfig(knn_iters=0)
