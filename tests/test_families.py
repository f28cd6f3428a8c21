"""StarGAN-VC and StarGAN-VC2: trainable nets, losses, family API, tiny training runs and vc-convert."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import tiny_experiment
from synth import speech_like

from vc.config import ExperimentConfig
from vc.errors import ConfigError
from vc.losses.stargan_vc import id_weight
from vc.models import family_names, get_family
from vc.models.config import ModelConfig
from vc.models.stargan_vc import Discriminator as VCDiscriminator
from vc.models.stargan_vc import DomainClassifier, one_hot
from vc.models.stargan_vc import Generator as VCGenerator
from vc.models.stargan_vc2 import Generator as VC2Generator
from vc.models.stargan_vc2 import ProjectionDiscriminator

K = 3
FAMILIES = ["stargan_vc", "stargan_vc2"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def tiny_model(**overrides) -> ModelConfig:
    base = dict(dim_in=8, max_conv_dim=16, n_down=2, n_bottleneck=1, vc_bottleneck=4, disc_dim=8, disc_max_dim=16,
                disc_n_down=2)
    base.update(overrides)
    return ModelConfig(**base)


def tiny_config(family: str, **loss) -> ExperimentConfig:
    cfg = ExperimentConfig()
    cfg.model = tiny_model(name=family)
    for key, value in loss.items():
        setattr(cfg.loss, key, value)
    return cfg


def make_batch(q: int = 36, n: int = 33, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {
        "x": torch.randn(4, 1, q, n, generator=g),
        "f0n": torch.zeros(4, n),
        "voiced": torch.zeros(4, n),
        "y": torch.tensor([0, 1, 2, 0]),
        "x_ref": torch.randn(4, 1, q, n, generator=g),
        "x_ref2": torch.randn(4, 1, q, n, generator=g),
        "y_ref": torch.tensor([1, 1, 2, 2]),
    }


# ---------------------------------------------------------------------------------------------- nets
def _run_net(name: str, q: int, n: int) -> tuple[torch.nn.Module, torch.Tensor]:
    """Build net ``name`` for Q rows, run it on a batch of 3 clips of N frames, return (net, scalar)."""
    cfg = tiny_model()
    x, y = torch.randn(3, 1, q, n), torch.tensor([0, 1, 2])
    c = one_hot(y, K)
    if name == "vc_generator":
        net = VCGenerator(q, K, cfg.dim_in, cfg.max_conv_dim, cfg.n_down, cfg.vc_bottleneck)
        out = net(x, c)
        assert out.shape == x.shape
    elif name == "vc_discriminator":
        net = VCDiscriminator(q, K, cfg.disc_dim, cfg.disc_max_dim, cfg.disc_n_down)
        out = net(x, c)
        assert out.shape == (3, max(1, n // 2**cfg.disc_n_down))  # one logit per time patch
    elif name == "vc_classifier":
        net = DomainClassifier(q, K, cfg.disc_dim, cfg.disc_max_dim, cfg.disc_n_down)
        out = net(x)
        assert out.shape == (3, K, -(-n // 2**cfg.disc_n_down))
        assert torch.allclose(net.probs(x).sum(1), torch.ones(3))
    elif name == "vc2_generator":
        net = VC2Generator(q, K, cfg.dim_in, cfg.max_conv_dim, cfg.n_down, n_res=2)
        out = net(x, c, one_hot(torch.tensor([2, 0, 1]), K))
        assert out.shape == x.shape
    elif name == "vc2_discriminator":
        net = ProjectionDiscriminator(K, cfg.disc_dim, cfg.disc_max_dim, cfg.disc_n_down)
        src = torch.tensor([2, 0, 1])
        out = net(x, src, y)
        pairs = net.all_pairs(x)
        assert out.shape == (3,) and pairs.shape == (3, K, K)
        assert torch.allclose(pairs[torch.arange(3), src, y], out, atol=1e-5)
        out = torch.cat([out, pairs.flatten()])
    else:
        raise AssertionError(name)
    assert torch.isfinite(out).all()
    return net, out.square().mean()


NETS = ["vc_generator", "vc_discriminator", "vc_classifier", "vc2_generator", "vc2_discriminator"]


@pytest.mark.parametrize("name", NETS)
@pytest.mark.parametrize("q", [36, 80])
def test_net_is_trainable(name, q):
    torch.manual_seed(0)
    net, loss = _run_net(name, q, 37)  # odd N: padded and cropped back
    loss.backward()
    for pname, p in net.named_parameters():
        assert p.grad is not None, f"{name}: no gradient reaches {pname}"
        assert torch.isfinite(p.grad).all(), pname
        if p.dim() > 1:  # biases before a norm get an exactly-cancelling gradient; weights never do
            assert p.grad.abs().sum() > 0, f"{name}: zero gradient for {pname}"


def test_nets_take_short_clips_and_refuse_wrong_rows():
    torch.manual_seed(0)
    for name in NETS:
        _run_net(name, 36, 3)
    with pytest.raises(ValueError, match=r"\(B, 1, 36, N\)"):
        VCGenerator(36, K, 8, 16, 2)(torch.randn(1, 1, 80, 20), one_hot(torch.tensor([0]), K))


def test_generators_follow_their_codes():
    """The target code (and for VC2 the source code) changes the output; the same code does not."""
    torch.manual_seed(0)
    x = torch.randn(2, 1, 36, 24)
    a, b = one_hot(torch.tensor([0, 0]), K), one_hot(torch.tensor([1, 1]), K)
    g = VCGenerator(36, K, 8, 16, 2).eval()
    assert not torch.allclose(g(x, a), g(x, b)) and torch.equal(g(x, a), g(x, a))
    g2 = VC2Generator(36, K, 8, 16, 2, n_res=2).eval()
    assert not torch.allclose(g2(x, a, b), g2(x, b, b))
    assert not torch.allclose(g2(x, a, a), g2(x, a, b))


# ---------------------------------------------------------------------------------------------- family API
def test_registry_and_flags():
    assert {"stargan_v2", *FAMILIES} <= set(family_names())
    vc, vc2 = get_family("stargan_vc"), get_family("stargan_vc2")
    for fam in (vc, vc2):
        assert not fam.has_style_encoder and not fam.uses_f0_net
        assert fam.ema_nets == ("generator",) and fam.g_nets == ("generator",)
    assert vc.d_nets == ("discriminator", "classifier") and not vc.needs_source
    assert vc2.d_nets == ("discriminator", "classifier") and vc2.needs_source
    tcfg = ExperimentConfig().train
    tcfg.lr, tcfg.lr_d = 2e-4, 1e-4
    assert [vc.lr(n, tcfg) for n in ("generator", "discriminator", "classifier")] == [2e-4, 1e-4, 1e-4]


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("q", [36, 80])
def test_family_build_style_convert_judge(family, q):
    torch.manual_seed(0)
    fam = get_family(family)
    nets = fam.build(tiny_config(family), q, K)
    assert set(nets) == set(fam.g_nets) | set(fam.d_nets)
    for net in nets.values():
        net.eval()
    style = fam.style(nets, 2, z=torch.randn(1, 16))  # z is ignored: the style is the target code
    assert torch.equal(style, torch.tensor([[0.0, 0.0, 1.0]]))
    assert torch.equal(fam.style(nets, 2), style)
    with pytest.raises(ConfigError, match="style encoder"):
        fam.style(nets, 1, ref=torch.randn(1, 1, q, 20))
    x = torch.randn(2, 1, q, 29)
    out = fam.convert(nets, x, torch.zeros(2, 29), 0, 2, style)
    assert out.shape == x.shape and not out.requires_grad and torch.isfinite(out).all()
    scores = fam.judge_domain(nets, x)
    assert scores.shape == (K,) and torch.isfinite(scores).all() and float(scores.sum()) == pytest.approx(1.0)
    if family == "stargan_vc2":  # an unknown source (-1) is judged per clip
        judged = int(fam.judge_domain(nets, x[:1]).argmax())
        assert torch.equal(fam.convert(nets, x[:1], None, -1, 2, style),
                           fam.convert(nets, x[:1], None, judged, 2, style))
        other = (judged + 1) % K
        assert not torch.allclose(fam.convert(nets, x[:1], None, other, 2, style),
                                  fam.convert(nets, x[:1], None, judged, 2, style))


# ---------------------------------------------------------------------------------------------- losses
def test_identity_weight_schedule():
    lc = ExperimentConfig().loss
    lc.lambda_id, lc.id_stop_step = 5.0, 10000
    assert [id_weight(s, lc) for s in (0, 9999, 10000, 10**6)] == [5.0, 5.0, 0.0, 0.0]
    lc.id_stop_step = 0
    assert id_weight(10**6, lc) == 5.0


D_LOGS = {"stargan_vc": {"d_real", "d_fake", "d_cls"}, "stargan_vc2": {"d_real", "d_fake", "d_cls"}}
G_LOGS = {"stargan_vc": {"adv", "cls", "cyc", "lambda_id"}, "stargan_vc2": {"adv", "cyc", "lambda_id"}}


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("step", [0, 5])
def test_family_losses(family, step):
    torch.manual_seed(0)
    fam = get_family(family)
    cfg = tiny_config(family, id_stop_step=5, lambda_id=2.0, adv_type="lsgan" if family == "stargan_vc2" else "nonsat")
    nets = fam.build(cfg, 36, K)
    calls = []
    nets["generator"].register_forward_hook(lambda mod, args, out: calls.append(1))
    batch = make_batch()

    loss, logs = fam.d_loss(nets, batch, step, cfg, {})
    assert set(logs) == D_LOGS[family] and torch.isfinite(loss) and loss.dtype == torch.float32
    loss.backward()
    for name in fam.d_nets:
        assert all(p.grad is not None for p in nets[name].parameters()), name
    assert all(p.grad is None for p in nets["generator"].parameters()), "D step leaked into G"
    for name in fam.d_nets:
        nets[name].zero_grad(set_to_none=True)

    calls.clear()
    loss, logs = fam.g_loss(nets, batch, step, cfg, {})
    active = step < 5
    assert set(logs) == G_LOGS[family] | ({"id"} if active else set())
    assert logs["lambda_id"] == (2.0 if active else 0.0)
    assert len(calls) == (3 if active else 2), "identity pass must be skipped once it is switched off"
    assert torch.isfinite(loss)
    loss.backward()
    for name in fam.d_nets:
        assert all(p.grad is None for p in nets[name].parameters()), f"G step computed {name}'s weight gradients"
        assert all(p.requires_grad for p in nets[name].parameters()), f"{name} was left frozen"
    assert all(p.grad is not None for p in nets["generator"].parameters())

    before = {k: v.clone() for k, v in nets["generator"].state_dict().items()}
    dev = fam.dev_losses(nets, batch, cfg, {})
    assert dev == fam.dev_losses(nets, batch, cfg, {}), "dev losses must be deterministic"
    assert all(torch.equal(v, before[k]) for k, v in nets["generator"].state_dict().items()), "dev changed G"
    assert nets["generator"].training, "dev losses must restore the nets' mode"
    lc = cfg.loss
    if family == "stargan_vc":
        assert set(dev) == {"cls", "cyc", "id", "total"}
        assert dev["total"] == pytest.approx(lc.lambda_cls * dev["cls"] + lc.lambda_cyc * dev["cyc"])
    else:
        assert set(dev) == {"cyc", "id", "cls_real", "total"}
        assert dev["total"] == pytest.approx(lc.lambda_cyc * dev["cyc"])
    lc.id_stop_step = 0  # identity never switched off: it counts towards the dev total
    assert fam.dev_losses(nets, batch, cfg, {})["total"] == pytest.approx(dev["total"] + 2.0 * dev["id"])


def test_source_judge_is_trained_beside_the_gan():
    """StarGAN-VC2's classifier learns from real clips only: G's loss never reaches it, and removing its
    term from the D step leaves D's gradients unchanged."""
    torch.manual_seed(0)
    fam = get_family("stargan_vc2")
    cfg = tiny_config("stargan_vc2")
    nets = fam.build(cfg, 36, K)
    batch = make_batch()
    loss, logs = fam.d_loss(nets, batch, 0, cfg, {})
    loss.backward()
    d_grads = [p.grad.clone() for p in nets["discriminator"].parameters()]
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in nets["classifier"].parameters() if p.dim() > 1)
    nets["discriminator"].zero_grad(set_to_none=True)
    torch.manual_seed(1)
    other = dict(nets, classifier=fam.build(cfg, 36, K)["classifier"])  # a different classifier
    loss2, logs2 = fam.d_loss(other, batch, 0, cfg, {})
    loss2.backward()
    assert logs2["d_cls"] != pytest.approx(logs["d_cls"])
    assert all(torch.equal(a, p.grad) for a, p in zip(d_grads, nets["discriminator"].parameters()))
    for net in nets.values():
        net.zero_grad(set_to_none=True)
    fam.g_loss(nets, batch, 0, cfg, {})[0].backward()
    assert all(p.grad is None for p in nets["classifier"].parameters())


def test_classifier_weight_zero_skips_the_classifier():
    torch.manual_seed(0)
    fam = get_family("stargan_vc")
    cfg = tiny_config("stargan_vc", lambda_cls=0.0)
    nets = fam.build(cfg, 36, K)
    _, dlogs = fam.d_loss(nets, make_batch(), 0, cfg, {})
    _, glogs = fam.g_loss(nets, make_batch(), 0, cfg, {})
    assert "d_cls" not in dlogs and "cls" not in glogs


@pytest.mark.parametrize("family", FAMILIES)
def test_losses_finite_under_bf16_autocast(family):
    torch.manual_seed(0)
    fam = get_family(family)
    cfg = tiny_config(family)
    nets = fam.build(cfg, 36, K)
    batch = make_batch()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        dl, dlogs = fam.d_loss(nets, batch, 0, cfg, {})
        gl, glogs = fam.g_loss(nets, batch, 0, cfg, {})
        dev = fam.dev_losses(nets, batch, cfg, {})
    assert dl.dtype == gl.dtype == torch.float32
    assert all(np.isfinite(v) for v in [*dlogs.values(), *glogs.values(), *dev.values()])
    (dl + gl).backward()
    grads = [p.grad for net in nets.values() for p in net.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("family", FAMILIES)
def test_generator_step_lowers_cycle_and_identity(family):
    """A few generator updates on one batch lower the reconstruction terms (losses wired to the nets)."""
    torch.manual_seed(0)
    fam = get_family(family)
    cfg = tiny_config(family, lambda_adv=0.0, lambda_cls=0.0)
    nets = fam.build(cfg, 16, K)
    batch = make_batch(q=16, n=16)
    opt = torch.optim.Adam(nets["generator"].parameters(), lr=3e-3)
    first = None
    for _ in range(20):
        loss, logs = fam.g_loss(nets, batch, 0, cfg, {})
        first = first or logs
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert logs["cyc"] < 0.8 * first["cyc"] and logs["id"] < 0.8 * first["id"], (first, logs)


# ---------------------------------------------------------------------------------------------- end to end
def _convert(args, cwd, check=True):
    proc = subprocess.run(["vc-convert", *map(str, args)], cwd=cwd, env=ENV, capture_output=True, text=True,
                          timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"vc-convert {args} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def _train(base: ExperimentConfig, out: Path, family: str, sample_every: int = 0, **loss) -> Path:
    from vc.train import train

    exp = tiny_experiment(base, out, model=dict(name=family, crop_frames=32, vc_bottleneck=4), loss=loss,
                          train=dict(max_steps=6, eval_every=3, save_every=0, batch_size=3, sample_every=sample_every))
    exp.vocoder.griffinlim_iters = 4  # conversion here checks plumbing, not audio quality
    return train(exp, device="cpu")


@pytest.fixture(scope="session")
def vc_ckpts(tmp_path_factory, prepared_dump, world_dump) -> dict[str, Path]:
    """Tiny 6-step checkpoints: each family on the mel dump, StarGAN-VC2 on the WORLD dump."""
    root = tmp_path_factory.mktemp("vc_families")
    mel, _ = prepared_dump
    return {
        "stargan_vc": _train(mel, root / "vc", "stargan_vc", lambda_cyc=1.0, lambda_id=1.0, id_stop_step=0),
        "stargan_vc2": _train(mel, root / "vc2", "stargan_vc2", adv_type="lsgan", lambda_cyc=10.0, id_stop_step=3),
        "stargan_vc2_world": _train(world_dump, root / "vc2w", "stargan_vc2", sample_every=6, adv_type="lsgan",
                                    id_stop_step=3),
    }


@pytest.fixture
def src(tmp_path) -> Path:
    path = tmp_path / "a.wav"
    sf.write(path, speech_like(1.2, 16000, f0=120, seed=3), 16000)
    return path


@pytest.mark.parametrize("which", ["stargan_vc", "stargan_vc2", "stargan_vc2_world"])
def test_trained_checkpoint_converts_with_target(which, vc_ckpts, src, tmp_path):
    from vc.train.checkpoint import load_checkpoint

    ckpt = vc_ckpts[which]
    state = load_checkpoint(ckpt)
    family = which.removesuffix("_world")
    fam = get_family(family)
    assert state["step"] == 6 and state["family"] == family
    assert set(state["ema"]) == {"generator"} and set(state["nets"]) == set(fam.g_nets) | set(fam.d_nets)
    assert (ckpt.parent / "best.pt").is_file(), "dev evaluation should have picked a best checkpoint"
    assert state["features"]["kind"] == ("world" if which.endswith("world") else "mel")
    live, ema = state["nets"]["generator"], state["ema"]["generator"]
    assert not all(torch.equal(live[k], ema[k]) for k in live), "EMA copy should trail the live generator"

    out = tmp_path / "o.wav"
    args = ["--ckpt", ckpt, "--src", src, "--target", "high", "--out", out]
    _convert(args + (["--vocoder", "world"] if which.endswith("world") else []), tmp_path)
    wav, sr = sf.read(out)
    ref, _ = sf.read(src)
    assert sr == 16000 and abs(len(wav) - len(ref)) <= 200
    assert np.isfinite(wav).all() and 0 < np.abs(wav).max() <= 0.99 + 1e-4


@pytest.mark.parametrize("which", ["stargan_vc", "stargan_vc2_world"])
def test_ref_is_refused_in_one_line(which, vc_ckpts, src, tiny_corpus, tmp_path):
    ref = sorted((tiny_corpus / "mid").glob("*.wav"))[0]
    proc = _convert(["--ckpt", vc_ckpts[which], "--src", src, "--ref", ref, "--out", tmp_path / "r.wav"], tmp_path,
                    check=False)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in proc.stderr, proc.stderr
    assert "style encoder" in lines[0] and which.removesuffix("_world") in lines[0] and "--target" in lines[0]
    assert not (tmp_path / "r.wav").exists()


def test_source_known_or_judged(vc_ckpts):
    """StarGAN-VC2 conditions on the source: without --source the converter judges it, with one it uses it."""
    import vc

    conv = vc.load(vc_ckpts["stargan_vc2_world"], device="cpu")
    wav = speech_like(0.6, 16000, f0=110, seed=5)
    seen = []
    real_convert = conv.family.convert
    conv.family.convert = lambda nets, x, f0n, source, *rest, **kw: seen.append(source) or real_convert(
        nets, x, f0n, source, *rest, **kw)
    for source in (None, "low"):
        out, sr = conv(wav, sr=16000, target="mid", source=source)
        assert sr == 16000 and len(out) == len(wav) and np.isfinite(out).all()
    assert seen[0] in range(len(conv.domains)) and seen[1] == conv.domains.index("low")
    with pytest.raises(ConfigError, match="style encoder"):
        conv(wav, sr=16000, ref=wav)
