"""Frequency warping of the coded envelope and the warped statistical base (generator_base: warped)."""

import numpy as np
import pytest
import torch

from vc.features import warp, world
from vc.features.config import FeatureConfig

CFG = FeatureConfig(kind="world", sample_rate=16000, num_sp=36)


def _peak_envelope(hz: float) -> np.ndarray:
    """Coded envelope ``(Q,)`` of a spectrum with one formant-like peak at ``hz``."""
    import pyworld

    n = world.fft_size(CFG.sample_rate)
    f = np.arange(n // 2 + 1) * CFG.sample_rate / n
    sp = 1e-3 * np.exp(3.0 * np.exp(-(((f - hz) / 150.0) ** 2)))
    return pyworld.code_spectral_envelope(np.ascontiguousarray(sp[None]), CFG.sample_rate, CFG.dim)[0]


def _peak_hz(coded: np.ndarray) -> float:
    import pyworld

    n = world.fft_size(CFG.sample_rate)
    sp = pyworld.decode_spectral_envelope(np.ascontiguousarray(coded[None]), CFG.sample_rate, n)[0]
    return float(np.argmax(sp) * CFG.sample_rate / n)


def test_ratios_are_symmetric_around_the_identity():
    assert warp.RATIOS[warp.IDENTITY] == pytest.approx(1.0)
    np.testing.assert_allclose(warp.RATIOS * warp.RATIOS[::-1], 1.0)
    np.testing.assert_array_equal(warp.warp_matrix(1.0, CFG), np.eye(CFG.dim))


@pytest.mark.parametrize("ratio", [0.85, 1.2])
def test_warp_moves_a_formant_by_the_ratio(ratio):
    c = _peak_envelope(1000.0)
    assert _peak_hz(c) == pytest.approx(1000.0, abs=20)
    moved = warp.warp_matrix(ratio, CFG) @ c
    assert _peak_hz(moved) == pytest.approx(1000.0 * ratio, rel=0.03)


def test_choose_ratio_finds_the_scale_between_two_envelopes_and_its_inverse():
    grid = warp.warp_grid(CFG)
    low, high = _peak_envelope(1000.0), _peak_envelope(1200.0)
    up = warp.choose_ratio(grid, low, high)
    assert warp.RATIOS[up] == pytest.approx(1.2, rel=0.025)
    sym = warp.choose_ratio(grid, low, high, symmetric=True)
    assert warp.choose_ratio(grid, high, low, symmetric=True) == len(warp.RATIOS) - 1 - sym
    assert warp.choose_ratio(grid, low, low) == warp.IDENTITY


def test_warp_refuses_other_features():
    with pytest.raises(ValueError, match="WORLD"):
        warp.warp_matrix(1.1, FeatureConfig(kind="mel"))


def _stats(means: dict, stds: dict, features: FeatureConfig = CFG):
    from vc.features.stats import Stats

    q = features.dim
    return Stats(np.full(q, 0.5), np.full(q, 2.0), {d: 5.0 for d in means}, {d: 0.2 for d in means},
                 list(means), features=features.to_dict(), domain_mean=means, domain_std=stds)


def test_warped_base_is_the_warped_statistical_conversion():
    """With no correction the generator's output is W (x - mu_src) / sd_src * sd_tgt + mu_tgt in raw
    features, W the warp between the two domains' mean envelopes; the way back uses the inverse ratio."""
    from test_models import _f0n, tiny_config

    from vc.models import get_family
    from vc.models.moments import WarpedMoments, apply_shift

    torch.manual_seed(0)
    q = CFG.dim
    fam = get_family("stargan_v2")
    nets = fam.build(tiny_config(generator_base="warped"), q, 2)
    assert isinstance(nets["moments"], WarpedMoments) and not list(nets["moments"].parameters())
    means = {"low": _peak_envelope(1000.0), "high": _peak_envelope(1200.0)}
    stds = {d: np.random.default_rng(1).uniform(0.5, 2.0, size=q) for d in means}
    stats = _stats(means, stds)
    fam.init_from_stats(nets, stats, list(means))
    m = nets["moments"]
    up, down = int(m.pair[0, 1]), int(m.pair[1, 0])
    assert warp.RATIOS[up] > 1.1 and down == len(warp.RATIOS) - 1 - up and int(m.pair[0, 0]) == warp.IDENTITY
    torch.nn.init.zeros_(nets["generator"].to_out[-1].weight)
    x, f0n = torch.randn(1, 1, q, 30, dtype=torch.float32), _f0n(30)[:1]
    style = fam.style(nets, 1, z=torch.randn(1, 8))
    out = fam.convert(nets, x, f0n, 0, 1, style)[0, 0].double().numpy()
    raw = stats.denormalize(x[0, 0].double().numpy(), axis=0)
    W = warp.warp_matrix(warp.RATIOS[up], CFG)
    want = (W @ (raw - means["low"][:, None])) / stds["low"][:, None] * stds["high"][:, None] + means["high"][:, None]
    np.testing.assert_allclose(stats.denormalize(out, axis=0), want, rtol=1e-3, atol=1e-3)
    # the shift back is the inverse warp between the same moments
    back = m.shift(torch.tensor([0]), torch.tensor([1])).reverse()
    assert torch.allclose(back.warp, m.grid_n[down][None]) and torch.equal(back.tgt_mean, m.mean[:1])
    # moments alone (a clip of unknown domain, a reference voice): the best ratio for them
    sh = m.between(m.mean[:1], m.std[:1], m.mean[1:], m.std[1:])
    assert torch.allclose(sh.warp, m.grid_n[warp.choose_ratio(m.grid.numpy(), means["low"], means["high"])][None])
    assert apply_shift(x, sh).shape == x.shape


def test_warped_base_needs_world_features():
    from test_models import tiny_config

    from vc.errors import ConfigError
    from vc.models import get_family

    mel = FeatureConfig(kind="mel")
    q = mel.dim
    fam = get_family("stargan_v2")
    nets = fam.build(tiny_config(generator_base="warped"), q, 2)
    stats = _stats({d: np.zeros(q) for d in "ab"}, {d: np.ones(q) for d in "ab"}, mel)
    with pytest.raises(ConfigError, match="generator_base: warped needs WORLD features"):
        fam.init_from_stats(nets, stats, ["a", "b"])
