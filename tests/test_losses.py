"""Adversarial losses, R1, pitch consistency and the StarGAN v2 step losses."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vc.config import ExperimentConfig
from vc.errors import ConfigError
from vc.losses import ADV_KINDS, d_adv_loss, g_adv_loss, r1_penalty
from vc.losses.stargan_v2 import d_loss, dev_losses, ds_weight, frame_energy, g_loss, norm_consistency_loss
from vc.models import get_family
from vc.models.config import ModelConfig
from vc.models.f0net import F0Net, pitch_consistency_loss


def tiny_config(**model_overrides) -> ExperimentConfig:
    cfg = ExperimentConfig()
    cfg.model = ModelConfig(
        dim_in=8, max_conv_dim=32, n_down=2, n_bottleneck=1, style_dim=16, latent_dim=8, mapping_hidden=32,
        mapping_layers=2, style_dim_in=8, style_n_down=2, disc_dim=8, disc_max_dim=32, disc_n_down=2,
        f0_net_dim=8, **model_overrides,
    )
    return cfg


HIGH, LOW = torch.full((4,), 3.0), torch.full((4,), -3.0)


@pytest.mark.parametrize("kind", ADV_KINDS)
def test_adversarial_losses_point_the_right_way(kind):
    assert d_adv_loss(HIGH, LOW, kind) < d_adv_loss(LOW, HIGH, kind)
    assert g_adv_loss(HIGH, kind) < g_adv_loss(LOW, kind)
    # gradients: D pushes real logits up and fake logits down, G pushes fake logits up
    # (at 0.5: LSGAN's fake target 0 would give no gradient at 0 itself)
    real, fake = torch.full((4,), 0.5, requires_grad=True), torch.full((4,), 0.5, requires_grad=True)
    d_adv_loss(real, fake, kind).backward()
    assert (real.grad < 0).all() and (fake.grad > 0).all()
    fake = torch.full((4,), 0.5, requires_grad=True)
    g_adv_loss(fake, kind).backward()
    assert (fake.grad < 0).all()
    # no overflow on extreme (half-precision) logits
    big = torch.tensor([-1e4, 1e4], dtype=torch.bfloat16)
    assert torch.isfinite(d_adv_loss(big, big, kind)) and torch.isfinite(g_adv_loss(big, kind))


def test_adversarial_kind_is_checked():
    with pytest.raises(ConfigError, match="nonsat"):
        g_adv_loss(HIGH, "wasserstein")


def test_r1_penalty():
    x = torch.randn(3, 1, 8, 5, requires_grad=True)
    const = x.sum(dim=(1, 2, 3)) * 0 + 2.0
    assert float(r1_penalty(const, x)) == 0.0
    w = torch.randn(1, 1, 8, 5)
    linear = (x * w).sum(dim=(1, 2, 3))  # gradient w for every sample
    assert torch.allclose(r1_penalty(linear, x), 0.5 * w.pow(2).sum())


def test_ds_weight_decays_linearly():
    lc = tiny_config().loss
    lc.lambda_ds, lc.ds_decay_steps = 2.0, 1000
    assert [ds_weight(s, lc) for s in (0, 500, 1000, 5000)] == [2.0, 1.0, 0.0, 0.0]
    lc.ds_decay_steps = 0
    assert ds_weight(10**6, lc) == 2.0


class RowZeroPitch(torch.nn.Module):
    """A stand-in F0 net whose pitch is simply row 0 of the features."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(()))

    def forward(self, x):
        return self.w * x[:, 0, 0, :], x[:, 0, 0, :]


def test_pitch_consistency_keeps_intonation_allows_register_shift():
    torch.manual_seed(0)
    net = RowZeroPitch().requires_grad_(False)
    x = torch.randn(2, 1, 4, 30)
    voiced = (torch.rand(2, 30) > 0.3).float()
    shifted = x.clone()
    shifted[:, :, 0] = x[:, :, 0] + 5.0  # same contour, higher register
    assert float(pitch_consistency_loss(net, x, shifted, voiced)) < 1e-5
    shifted[:, :, 0] = 2.0 * x[:, :, 0] + 5.0  # and a wider range: equal up to the std floor
    assert float(pitch_consistency_loss(net, x, shifted, voiced)) < 0.02
    flipped = x.clone()
    flipped[:, :, 0] = -x[:, :, 0]  # the intonation upside down
    fake = flipped.requires_grad_(True)
    real = x.clone().requires_grad_(True)
    loss = pitch_consistency_loss(net, real, fake, voiced)
    assert float(loss.detach()) > 0.5
    loss.backward()
    assert fake.grad.abs().sum() > 0 and real.grad is None
    # frames unvoiced in the source do not count
    other = x.clone()
    other[:, :, 0] = torch.where(voiced[:, None] > 0, x[:, :, 0], torch.randn_like(x[:, :, 0]))
    assert float(pitch_consistency_loss(net, x, other, voiced)) < 1e-3


def test_frame_energy_is_mean_over_rows():
    x = torch.arange(12.0).reshape(1, 1, 3, 4)
    assert torch.equal(frame_energy(x), torch.tensor([[4.0, 5.0, 6.0, 7.0]]))
    assert torch.equal(frame_energy(x, "mel"), frame_energy(x))


def test_norm_loss_on_world_follows_loudness_not_spectral_shape():
    """On WORLD's coded envelope a gain moves only c0 (row 0): the norm loss must follow that row and
    leave the other 35, the spectral shape, to the conversion."""
    torch.manual_seed(0)
    x = torch.randn(2, 1, 36, 50)
    reshaped = x.clone()
    reshaped[:, :, 1:] = torch.randn(2, 1, 35, 50) * 3  # a completely different spectral shape
    assert float(norm_consistency_loss(x, reshaped, "world")) == 0.0
    louder = x.clone()
    louder[:, :, 0] += 0.5
    assert float(norm_consistency_loss(x, louder, "world")) == pytest.approx(0.5)
    # the mel proxy (mean over rows) would have charged the reshaped spectrum as an energy change
    assert float(norm_consistency_loss(x, reshaped, "mel")) > 0.1
    # and the training loss reads the kind from the experiment's features: a "generator" that keeps
    # row 0 and flattens every other row costs nothing on WORLD features, and a lot on mel ones
    class Reshaper(torch.nn.Module):
        def forward(self, x, s, f0n=None):
            out = x.clone()
            out[:, :, 1:] = 7.0
            return out

    fam, cfg, nets, aux = setup_family(with_f0=False)
    nets["generator"] = Reshaper()
    cfg.features.kind = "world"
    _, logs = g_loss(nets, make_batch(), 0, cfg, aux)
    assert logs["norm"] == 0.0
    cfg.features.kind = "mel"
    _, logs = g_loss(nets, make_batch(), 0, cfg, aux)
    assert logs["norm"] > 1.0


class PatchStub(torch.nn.Module):
    """A discriminator whose per-patch logits are fixed offsets plus a linear function of the input."""

    def __init__(self, offsets: torch.Tensor):
        super().__init__()
        self.offsets = offsets  # (P,)
        self.w = torch.nn.Parameter(torch.zeros(()))

    def patch_logits(self, x):
        b = x.shape[0]
        return self.offsets.expand(b, 2, -1) + self.w * x.mean(dim=(1, 2, 3))[:, None, None]

    def patch_logits_and_classes(self, x):
        return self.patch_logits(x), torch.zeros(x.shape[0], 2)


@pytest.mark.parametrize("per_patch", [True, False])
def test_adversarial_loss_sees_every_patch(per_patch):
    """Clips with one fake-looking patch among real-looking ones: judged per patch (PatchGAN) that patch
    costs the discriminator; averaged first, +10 and -10 cancel and D sees a clip it cannot call."""
    fam, cfg, nets, aux = setup_family(with_f0=False)
    cfg.loss.adv_per_patch = per_patch
    cfg.loss.lambda_r1 = 0.0
    nets["discriminator"] = PatchStub(torch.tensor([10.0, -10.0, 10.0, -10.0]))
    batch = make_batch(b=2)
    batch["y"], batch["y_ref"] = torch.tensor([0, 1]), torch.tensor([1, 0])
    _, logs = fam.d_loss(nets, batch, 0, cfg, aux)
    if per_patch:  # half the patches of every real clip score -10: softplus(10) / 2 each
        assert logs["d_real"] == pytest.approx(torch.nn.functional.softplus(torch.tensor(10.0)).item() / 2, rel=1e-3)
    else:  # the mean logit is 0: log 2
        assert logs["d_real"] == pytest.approx(np.log(2.0), rel=1e-4)
    _, glogs = fam.g_loss(nets, batch, 0, cfg, aux)
    assert glogs["adv"] == pytest.approx(logs["d_real"], rel=1e-3)  # G faces the same patches on its fakes


def make_batch(q: int = 36, n: int = 33, b: int = 4, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    f0n = torch.randn(b, n, generator=g)
    voiced = (torch.rand(b, n, generator=g) > 0.3).float()
    return {
        "x": torch.randn(b, 1, q, n, generator=g),
        "f0n": f0n * voiced,
        "voiced": voiced,
        "y": torch.tensor([0, 1, 2, 0])[:b],
        "x_ref": torch.randn(b, 1, q, n, generator=g),
        "x_ref2": torch.randn(b, 1, q, n, generator=g),
        "y_ref": torch.tensor([1, 1, 2, 0])[:b],
    }


def setup_family(discriminator="gated_patchgan", with_f0=True):
    torch.manual_seed(0)
    cfg = tiny_config(discriminator=discriminator)
    cfg.loss.adv_cls_start_step = 100
    cfg.loss.ds_decay_steps = 1000
    fam = get_family("stargan_v2")
    nets = fam.build(cfg, 36, 3)
    aux = {"f0_net": F0Net(cfg.model, 36).eval().requires_grad_(False)} if with_f0 else {}
    return fam, cfg, nets, aux


@pytest.mark.parametrize("discriminator", ["gated_patchgan", "resnet"])
@pytest.mark.parametrize("with_f0", [False, True])
@pytest.mark.parametrize("step", [0, 100])
def test_family_losses(discriminator, with_f0, step):
    fam, cfg, nets, aux = setup_family(discriminator, with_f0)
    batch = make_batch()
    G_NETS, D = ("generator", "mapping", "style_encoder"), nets["discriminator"]

    loss, logs = fam.d_loss(nets, batch, step, cfg, aux)
    expect = {"d_real", "d_fake", "d_r1"} | ({"d_adv_cls"} if step >= 100 else set())
    assert set(logs) == expect and torch.isfinite(loss)
    assert all(isinstance(v, float) for v in logs.values())
    assert logs["d_r1"] > 0
    loss.backward()
    # the source-classifier head only trains from adv_cls_start_step on
    assert all(p.grad is not None for n, p in D.named_parameters() if not n.startswith("cls_head"))
    assert (D.cls_head.weight.grad is not None) == (step >= 100)
    assert all(p.grad is None for n in G_NETS for p in nets[n].parameters()), "D step leaked into G"
    D.zero_grad(set_to_none=True)

    loss, logs = fam.g_loss(nets, batch, step, cfg, aux)
    expect = {"adv", "sty", "ds", "cyc", "norm", "lambda_ds"}
    expect |= ({"f0"} if with_f0 else set()) | ({"adv_cls"} if step >= 100 else set())
    assert set(logs) == expect and torch.isfinite(loss)
    assert logs["lambda_ds"] == pytest.approx(1.0 - step / 1000)
    loss.backward()
    assert all(p.grad is None for p in D.parameters()), "G step computed D's weight gradients"
    assert all(p.requires_grad for p in D.parameters()), "D was left frozen"
    for name in G_NETS:
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in nets[name].parameters()), name
    if with_f0:
        assert all(p.grad is None for p in aux["f0_net"].parameters())

    dev = fam.dev_losses(nets, batch, cfg, aux)
    assert set(dev) == {"sty", "cyc", "norm", "total"} | ({"f0"} if with_f0 else set())
    assert dev == fam.dev_losses(nets, batch, cfg, aux), "dev losses must be deterministic"
    lc = cfg.loss
    expected_total = lc.lambda_sty * dev["sty"] + lc.lambda_cyc * dev["cyc"] + lc.lambda_norm * dev["norm"]
    expected_total += lc.lambda_f0 * dev.get("f0", 0.0)
    assert dev["total"] == pytest.approx(expected_total)


def test_diversity_term_dropped_after_decay():
    fam, cfg, nets, aux = setup_family(with_f0=False)
    _, logs = g_loss(nets, make_batch(), 1000, cfg, aux)
    assert "ds" not in logs and logs["lambda_ds"] == 0.0


def test_losses_finite_under_bf16_autocast():
    fam, cfg, nets, aux = setup_family(with_f0=True)
    batch = make_batch()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        dl, dlogs = d_loss(nets, batch, 100, cfg, aux)
        gl, glogs = g_loss(nets, batch, 100, cfg, aux)
        dev = dev_losses(nets, batch, cfg, aux)
    assert dl.dtype == gl.dtype == torch.float32
    for v in [dl, gl, *map(torch.tensor, [*dlogs.values(), *glogs.values(), *dev.values()])]:
        assert torch.isfinite(v).all()
    (dl + gl).backward()
    grads = [p.grad for net in nets.values() for p in net.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_gan_step_reduces_losses_on_a_toy_problem():
    """A few optimiser steps on one fixed batch lower the cycle loss (the losses are wired to the nets)."""
    fam, cfg, nets, _ = setup_family(with_f0=False)
    batch = make_batch(q=16, n=16, b=2)
    opt = torch.optim.Adam([p for n in fam.g_nets for p in nets[n].parameters()], lr=2e-3)
    first = None
    for _ in range(25):
        loss, logs = g_loss(nets, batch, 0, cfg, {})
        first = logs["cyc"] if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert logs["cyc"] < 0.8 * first, (first, logs["cyc"])


@pytest.mark.parametrize("split", [False, True])
def test_branches_both_or_split(split):
    """Both branches convert every clip (2B rows per generator pass); split_branches halves that."""
    fam, cfg, nets, aux = setup_family(with_f0=True)
    cfg.loss.split_branches = split
    rows = []
    nets["generator"].register_forward_hook(lambda mod, args, out: rows.append(out.shape[0]))
    batch = make_batch()
    dl, _ = d_loss(nets, batch, 100, cfg, aux)
    gl, glogs = g_loss(nets, batch, 100, cfg, aux)
    assert torch.isfinite(dl) and torch.isfinite(gl) and "adv_cls" in glogs
    assert rows == [4 if split else 8] * 4  # D's fakes; G: fake, diversity target, cycle


def test_statistical_base_cycle_goes_back_through_the_reverse_shift():
    """With no correction (last layer zeroed) the conversion is the statistical one, and the cycle's way
    back shifts it from the target's moments to the source's: x comes back exactly."""
    torch.manual_seed(0)
    cfg = tiny_config(generator_base="statistical")
    fam = get_family("stargan_v2")
    nets = fam.build(cfg, 36, 3)
    torch.nn.init.zeros_(nets["generator"].to_out[-1].weight)
    moments = nets["moments"]
    moments.mean.copy_(torch.randn(3, 36))
    moments.std.copy_(torch.rand(3, 36) + 0.5)
    batch = make_batch()
    loss, logs = fam.g_loss(nets, batch, 0, cfg, {})
    assert logs["cyc"] < 1e-5 and logs["norm"] < 1e-5
    dev = fam.dev_losses(nets, batch, cfg, {})
    assert dev["cyc"] < 1e-5
    dl, dlogs = fam.d_loss(nets, batch, 0, cfg, {})
    assert torch.isfinite(loss) and torch.isfinite(dl)
    loss.backward()
    assert nets["generator"].to_out[-1].weight.grad.abs().sum() > 0


def test_domain_classification_teaches_real_domains_and_pulls_conversions_to_the_target():
    """loss.lambda_cls_real: D's classifier head learns the domain of real clips, and G is charged
    when its conversion is not classified as the target."""
    fam, cfg, nets, aux = setup_family(with_f0=False)
    batch = make_batch()
    _, logs = fam.d_loss(nets, batch, 0, cfg, aux)
    assert "d_cls_real" not in logs  # off by default (StarGAN v2-VC has no such term)
    cfg.loss.lambda_cls_real = 1.0
    D = nets["discriminator"]
    loss, logs = fam.d_loss(nets, batch, 0, cfg, aux)
    with torch.no_grad():
        want = torch.nn.functional.cross_entropy(D.classify(batch["x"]), batch["y"])
    assert logs["d_cls_real"] == pytest.approx(float(want), rel=1e-4)
    loss.backward()
    assert D.cls_head.weight.grad is not None and D.cls_head.weight.grad.abs().sum() > 0
    D.zero_grad(set_to_none=True)
    _, glogs = fam.g_loss(nets, batch, 0, cfg, aux)
    assert "cls" in glogs and glogs["cls"] > 0
