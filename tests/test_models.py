"""Networks of the StarGAN v2 family, the F0 network and the family registry."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vc.config import ExperimentConfig
from vc.errors import ConfigError
from vc.models import count_parameters, family_names, get_family
from vc.models.config import ModelConfig
from vc.models.discriminators import build_discriminator
from vc.models.f0net import F0Net, f0_net_loss, pitch_consistency_loss, train_f0_net
from vc.models.stargan_v2 import Generator, MappingNetwork, StyleEncoder

K = 2  # domains; batch 2 with y = [0, 1] reaches every per-domain head


def tiny_model(**overrides) -> ModelConfig:
    base = dict(
        dim_in=8, max_conv_dim=32, n_down=2, n_bottleneck=1, style_dim=16, latent_dim=8, mapping_hidden=32,
        mapping_layers=2, style_dim_in=8, style_n_down=2, disc_dim=8, disc_max_dim=32, disc_n_down=2,
        f0_net_dim=8,
    )
    base.update(overrides)
    return ModelConfig(**base)


def tiny_config(**model_overrides) -> ExperimentConfig:
    cfg = ExperimentConfig()
    cfg.model = tiny_model(**model_overrides)
    return cfg


def _f0n(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(2, n, generator=g) * (torch.rand(2, n, generator=g) > 0.3)


def _run(name: str, cfg: ModelConfig, q: int, n: int) -> tuple[torch.nn.Module, torch.Tensor]:
    """Build net ``name``, run it on a batch of 2 (Q rows, N frames), return (net, a scalar to backprop)."""
    x = torch.randn(2, 1, q, n)
    y = torch.tensor([0, 1])
    if name == "generator":
        net = Generator(cfg.dim_in, cfg.max_conv_dim, cfg.n_down, cfg.n_bottleneck, cfg.style_dim, cfg.f0_condition)
        out = net(x, torch.randn(2, cfg.style_dim), _f0n(n))
        assert out.shape == x.shape
    elif name == "mapping":
        net = MappingNetwork(cfg.latent_dim, cfg.style_dim, K, cfg.mapping_hidden, cfg.mapping_layers)
        out = net(torch.randn(2, cfg.latent_dim), y)
        assert out.shape == (2, cfg.style_dim)
    elif name == "style_encoder":
        net = StyleEncoder(cfg.style_dim_in, cfg.max_conv_dim, cfg.style_dim, K, cfg.style_n_down)
        out = net(x, y)
        assert out.shape == (2, cfg.style_dim)
    elif name.startswith("disc_"):
        net = build_discriminator(tiny_model(discriminator=name[5:]), K)
        adv, cls = net.logits_and_classes(x)
        assert adv.shape == cls.shape == (2, K)
        assert net(x, y).shape == (2,)
        assert torch.allclose(net(x, y), adv[torch.arange(2), y])
        assert torch.allclose(net.classify(x), cls) and torch.allclose(net.all_logits(x), adv)
        patches, cls2 = net.patch_logits_and_classes(x)
        assert patches.shape[:2] == (2, K) and patches.shape[2] > 1  # one logit per patch of the last map
        assert torch.allclose(patches.mean(dim=2), adv) and torch.allclose(cls2, cls)
        assert torch.allclose(net.patch_logits(x), patches)
        out = torch.cat([adv, cls], dim=1)
    elif name == "f0_net":
        net = F0Net(cfg, q)
        f0, vuv = net(x)
        assert f0.shape == vuv.shape == (2, n)
        out = torch.cat([f0, vuv], dim=1)
    else:
        raise AssertionError(name)
    assert torch.isfinite(out).all()
    return net, out.square().mean()


NETS = ["generator", "mapping", "style_encoder", "disc_gated_patchgan", "disc_resnet", "f0_net"]


@pytest.mark.parametrize("name", NETS)
@pytest.mark.parametrize("q", [36, 80])
@pytest.mark.parametrize("n", [37, 64])
def test_net_is_trainable(name, q, n):
    torch.manual_seed(0)
    net, loss = _run(name, tiny_model(), q, n)
    loss.backward()
    for pname, p in net.named_parameters():
        assert p.grad is not None, f"{name}: no gradient reaches {pname}"
        assert torch.isfinite(p.grad).all(), pname
        # Biases just before an instance norm get an exactly-cancelling gradient; weights never do.
        if p.dim() > 1:
            assert p.grad.abs().sum() > 0, f"{name}: zero gradient for {pname}"


@pytest.mark.parametrize("n_down", [0, 1, 3])
def test_generator_any_depth_keeps_shape(n_down):
    torch.manual_seed(0)
    g = Generator(8, 32, n_down, 1, 16)
    x = torch.randn(1, 1, 36, 29)
    assert g(x, torch.randn(1, 16), _f0n(29)[:1]).shape == x.shape


def test_generator_uses_pitch_only_when_conditioned():
    torch.manual_seed(0)
    x, s = torch.randn(2, 1, 36, 40), torch.randn(2, 16)
    g = Generator(8, 32, 2, 1, 16, f0_condition=True)
    assert not torch.allclose(g(x, s, _f0n(40, 0)), g(x, s, _f0n(40, 1)))
    g = Generator(8, 32, 2, 1, 16, f0_condition=False)
    assert torch.equal(g(x, s, _f0n(40, 0)), g(x, s, _f0n(40, 1)))
    assert torch.equal(g(x, s, None), g(x, s, _f0n(40, 1)))


def test_style_encoder_and_discriminators_take_short_clips():
    torch.manual_seed(0)
    cfg = tiny_model(style_n_down=4, disc_n_down=3)
    x, y = torch.randn(2, 1, 36, 5), torch.tensor([0, 1])
    assert StyleEncoder(8, 32, 16, K, 4)(x, y).shape == (2, 16)
    for name in ("gated_patchgan", "resnet"):
        cfg.discriminator = name
        assert build_discriminator(cfg, K)(x, y).shape == (2,)


def test_registry():
    assert "stargan_v2" in family_names()
    with pytest.raises(ConfigError, match="stargan_v2"):
        get_family("stargan_v9")
    with pytest.raises(ConfigError, match="gated_patchgan"):
        build_discriminator(tiny_model(discriminator="nope"), K)
    fam = get_family("stargan_v2")
    tcfg = ExperimentConfig().train
    tcfg.lr, tcfg.lr_d, tcfg.lr_f = 1e-4, 2e-4, 1e-6
    assert [fam.lr(n, tcfg) for n in ("generator", "mapping", "style_encoder", "discriminator")] == [
        1e-4, 1e-6, 1e-4, 2e-4]
    assert set(fam.g_nets) | set(fam.d_nets) == {"generator", "mapping", "style_encoder", "discriminator"}
    assert fam.has_style_encoder


def test_family_build_style_convert_judge():
    torch.manual_seed(0)
    fam = get_family("stargan_v2")
    nets = fam.build(tiny_config(), 80, 3)
    counts = count_parameters(nets)
    assert counts["total"] == sum(p.numel() for net in nets.values() for p in net.parameters())
    assert set(counts) == {"generator", "mapping", "style_encoder", "discriminator", "total"}

    x, f0n = torch.randn(2, 1, 80, 45), _f0n(45)
    s_lat = fam.style(nets, 2, z=torch.randn(1, 8))
    s_ref = fam.style(nets, 2, ref=torch.randn(3, 1, 80, 30))
    s_rand = fam.style(nets, 1)
    for s in (s_lat, s_ref, s_rand):
        assert s.shape == (1, 16)
    assert not torch.allclose(fam.style(nets, 0, z=torch.ones(1, 8)), fam.style(nets, 1, z=torch.ones(1, 8)))
    out = fam.convert(nets, x, f0n, 0, 2, s_ref)
    assert out.shape == x.shape and not out.requires_grad
    assert fam.judge_domain(nets, x[:1]).shape == (3,)
    with pytest.raises(ValueError):
        fam.style(nets, 0, z=torch.randn(1, 8), ref=x)


def test_residual_generator_starts_near_the_identity_and_trains_every_layer():
    torch.manual_seed(0)
    g = Generator(8, 32, 2, 1, 16, residual=True)
    x, s = torch.randn(2, 1, 36, 40), torch.randn(2, 16)
    correction = (g(x, s, _f0n(40)) - x).abs().mean()
    assert 0 < correction < 0.1  # small, but not zero: gradients must reach the layers before it
    g(x, s, _f0n(40)).square().mean().backward()
    for name, p in g.named_parameters():
        if p.dim() > 1:
            assert p.grad is not None and p.grad.abs().sum() > 0, f"no gradient reaches {name} at the start"
    plain = Generator(8, 32, 2, 1, 16)
    assert (plain(x, s, _f0n(40)) - x).abs().mean() > 5 * correction


def test_statistical_base_converts_by_the_domain_moments():
    from vc.features.stats import Stats
    from vc.models.moments import Shift, apply_shift, clip_moments

    torch.manual_seed(0)
    q, k = 36, 3
    fam = get_family("stargan_v2")
    nets = fam.build(tiny_config(generator_base="statistical"), q, k)
    assert set(nets) == {"generator", "mapping", "style_encoder", "discriminator", "moments"}
    assert not list(nets["moments"].parameters())  # statistics, not weights: nothing for an optimiser
    rng = np.random.default_rng(0)
    means = {d: rng.normal(size=q) * 2 for d in "abc"}
    stds = {d: rng.uniform(0.5, 2.0, size=q) for d in "abc"}
    stats = Stats(np.zeros(q), np.full(q, 2.0), {d: 5.0 for d in "abc"}, {d: 0.2 for d in "abc"}, list("abc"),
                  domain_mean=means, domain_std=stds)
    fam.init_from_stats(nets, stats, list("abc"))
    torch.nn.init.zeros_(nets["generator"].to_out[-1].weight)  # no correction: the base alone
    x, f0n = torch.randn(1, 1, q, 30), _f0n(30)[:1]
    style = fam.style(nets, 2, z=torch.randn(1, 8))
    out = fam.convert(nets, x, f0n, 0, 2, style)
    # without a correction the output is the statistical conversion a -> c, row by row
    # (moments in the normalised space: (raw - mean) / scale with scale 2)
    want = (x[0, 0].double().numpy() - means["a"][:, None] / 2) / (stds["a"][:, None] / 2) * (
        stds["c"][:, None] / 2) + means["c"][:, None] / 2
    np.testing.assert_allclose(out[0, 0].double().numpy(), want, rtol=1e-4, atol=1e-4)
    # a source of unknown domain needs its own moments
    with pytest.raises(ValueError, match="source domain or a shift"):
        fam.convert(nets, x, f0n, -1, 2, style)
    mean, std = clip_moments(x)
    tgt_mean, tgt_std = nets["moments"](torch.tensor([2]))
    out = fam.convert(nets, x, f0n, -1, 2, style, shift=Shift(mean, std, tgt_mean, tgt_std))
    assert torch.allclose(out, apply_shift(x, Shift(mean, std, tgt_mean, tgt_std)))
    # ...after which each row has the target's mean and standard deviation exactly
    assert torch.allclose(out[0, 0].mean(1), tgt_mean[0], atol=1e-4)
    assert torch.allclose(out[0, 0].std(1, unbiased=False), tgt_std[0], atol=1e-4)


def test_clip_moments_use_voiced_frames():
    from vc.models.moments import clip_moments

    x = torch.zeros(1, 1, 2, 40)
    voiced = torch.zeros(40)
    voiced[:20] = 1
    x[0, 0, :, :20] = torch.tensor([[1.0, 3.0] * 10, [5.0] * 20])
    x[0, 0, :, 20:] = 100.0  # silence must not move the voice's moments
    mean, std = clip_moments(x, voiced)
    assert torch.allclose(mean, torch.tensor([[2.0, 5.0]])) and std[0, 0] == pytest.approx(1.0)
    assert std[0, 1] > 0  # floored, never zero
    assert clip_moments(x, torch.zeros(40))[0][0, 0] > 10  # too few voiced frames: every frame counts


def test_model_config_rejects_nonsense():
    from vc.config import load_config

    with pytest.raises(ConfigError, match="dim_in"):
        load_config(None, ["model.dim_in=0"])


class BrightRowPitch(torch.utils.data.Dataset):
    """Feature images whose "pitch" is the row of a bright line; unvoiced frames have none."""

    def __init__(self, count: int, q: int = 36, n: int = 32, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        t = torch.arange(n, dtype=torch.float32)
        self.items = []
        for _ in range(count):
            f0n = (torch.rand(1, generator=g) * 2 - 1) + 0.8 * torch.sin(t / 5 + 6 * torch.rand(1, generator=g))
            start = int(torch.randint(0, n // 3, (1,), generator=g))
            voiced = torch.zeros(n)
            voiced[start:start + n // 2] = 1
            f0n = f0n * voiced
            x = 0.1 * torch.randn(1, q, n, generator=g)
            rows = (q / 2 + f0n * q / 6).round().long().clamp(0, q - 1)
            cols = torch.arange(n)
            x[0, rows[voiced > 0], cols[voiced > 0]] += 3.0
            self.items.append({"x": x, "f0n": f0n, "voiced": voiced})

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        return self.items[i]


def test_train_f0_net_learns_bright_row_pitch():
    cfg = tiny_config()
    cfg.train.batch_size = 8
    cfg.model.f0_net_lr = 3e-3
    held = torch.utils.data.default_collate(BrightRowPitch(16, seed=1).items)

    def held_loss(net) -> float:
        with torch.no_grad():
            return float(f0_net_loss(net, held["x"], held["f0n"], held["voiced"])[0])

    torch.manual_seed(0)
    before = held_loss(F0Net(cfg.model, 36))
    torch.manual_seed(0)  # same initial weights as `before`
    net = train_f0_net(BrightRowPitch(32), cfg, steps=80, progress=False)
    after = held_loss(net)
    assert not net.training and not any(p.requires_grad for p in net.parameters())
    assert after < 0.5 * before, (before, after)


def test_f0_net_learned_pitch_drives_consistency():
    """With a trained F0 net (see vc.losses), a conversion that flips the bright row scores worse than the source."""
    cfg = tiny_config()
    cfg.model.f0_net_lr = 3e-3
    torch.manual_seed(0)
    net = train_f0_net(BrightRowPitch(32), cfg, steps=80, progress=False)
    items = torch.utils.data.default_collate(BrightRowPitch(4, seed=3).items)
    x, voiced = items["x"], items["voiced"]
    same = float(pitch_consistency_loss(net, x, x, voiced))
    flipped = float(pitch_consistency_loss(net, x, x.flip(2), voiced))
    assert same < 1e-6 and flipped > 0.3, (same, flipped)


def test_family_and_f0_net_on_a_prepared_dump(prepared_dump):
    """The dataset's batches fit the family's losses, and train_f0_net accepts a Dump."""
    import copy

    from vc.data import Dump, FeatureDataset, collate

    base, dump_dir = prepared_dump
    cfg = copy.deepcopy(base)
    cfg.model = tiny_model(crop_frames=24)
    cfg.train.batch_size = 4
    dump = Dump(dump_dir, cfg.features)
    torch.manual_seed(0)
    f0_net = train_f0_net(dump, cfg, steps=2, progress=False)
    data = FeatureDataset(dump, "train", 24)
    batch = collate([data[i] for i in range(4)])
    fam = get_family(cfg.model.name)
    nets = fam.build(cfg, cfg.features.dim, len(dump.domains))
    d_loss, _ = fam.d_loss(nets, batch, 0, cfg, {"f0_net": f0_net})
    g_loss, logs = fam.g_loss(nets, batch, 0, cfg, {"f0_net": f0_net})
    assert torch.isfinite(d_loss) and torch.isfinite(g_loss) and "f0" in logs
