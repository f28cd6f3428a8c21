"""Any-to-any conversion: a shared style head, the projection discriminator, the speaker-disjoint split,
the reference clip's own statistics, the unseen-voice evaluation, and a tiny learning check."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest
import torch
from conftest import experiment_config, tiny_experiment
from synth import make_corpus

import vc
from vc.config import ExperimentConfig, from_dict, to_dict
from vc.data import Dump, prepare
from vc.errors import ConfigError, DataError, VCError
from vc.models.config import ModelConfig
from vc.models.discriminators import build_discriminator
from vc.models.stargan_v2 import StyleEncoder
from vc.train import train

SHARED = dict(style_head="shared", disc_projection=True)


@pytest.fixture(scope="module")
def held_out(tmp_path_factory, tiny_corpus) -> ExperimentConfig:
    """``tiny_corpus`` with WORLD features and its ``high`` domain held out (data.unseen_domains)."""
    cfg = experiment_config(tiny_corpus, tmp_path_factory.mktemp("held_out") / "dump", features={"kind": "world"},
                            unseen_domains=["hi*"])
    prepare(cfg, progress=False)
    return cfg


@pytest.fixture(scope="module")
def shared_ckpt(tmp_path_factory, held_out):
    exp = tiny_experiment(held_out, tmp_path_factory.mktemp("shared") / "exp",
                          model=dict(SHARED, f0_net_steps=0, generator_base="statistical"),
                          train=dict(max_steps=12, eval_every=0, save_every=0))
    return train(exp, device="cpu")


def test_shared_style_head_reads_a_clip_of_any_length_whoever_speaks():
    torch.manual_seed(0)
    enc = StyleEncoder(8, 16, 12, num_domains=3, n_down=2, shared=True).eval()
    for frames in (3, 48, 301):
        x = torch.randn(2, 1, 20, frames)
        s = enc(x)
        assert s.shape == (2, 12)
        # the domain plays no part: one head for every clip
        assert torch.equal(enc(x, torch.tensor([0, 2])), s)
    per_domain = StyleEncoder(8, 16, 12, num_domains=3, n_down=2).eval()
    x = torch.randn(2, 1, 20, 40)
    assert not torch.allclose(per_domain(x, torch.tensor([0, 0])), per_domain(x, torch.tensor([1, 1])))
    with pytest.raises(ValueError, match="needs the domain"):
        per_domain(x)


def test_projection_discriminator_judges_a_clip_given_a_style():
    torch.manual_seed(0)
    cfg = ModelConfig(disc_dim=8, disc_max_dim=16, disc_n_down=2, style_dim=6, disc_projection=True)
    D = build_discriminator(cfg, 3)
    x = torch.randn(2, 1, 24, 40)
    s = torch.randn(2, 6)
    logits = D.style_logits(x, s)
    assert logits.shape == D.patch_logits(x)[:, 0].shape  # one logit per patch
    assert not torch.allclose(logits, D.style_logits(x, -s))  # the style matters
    # one trunk pass gives the domain, classifier and style judgements together, the same ones
    adv, cls, style = D.patch_logits_and_classes(x, s)
    assert torch.allclose(style, logits) and torch.allclose(adv, D.patch_logits(x)) and cls.shape == (2, 3)
    logits.sum().backward()
    assert D.style_proj.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="disc_projection"):
        build_discriminator(ModelConfig(disc_dim=8, disc_max_dim=16, disc_n_down=2), 3).style_logits(x, s)


def test_losses_train_the_projection(held_out, tmp_path):
    from vc.data.dataset import FeatureDataset
    from vc.losses.stargan_v2 import d_loss, g_loss
    from vc.models import get_family

    exp = tiny_experiment(held_out, tmp_path, model=dict(SHARED, f0_net_steps=0))
    dump = Dump(held_out.data.dump_dir, held_out.features)
    nets = get_family("stargan_v2").build(exp, held_out.features.dim, len(dump.domains))
    ds = FeatureDataset(dump, "train", crop_frames=exp.model.crop_frames, reference=True)
    batch = torch.utils.data.default_collate([ds[i] for i in range(4)])
    loss, logs = d_loss(nets, batch, 0, exp)
    assert "d_proj" in logs
    loss.backward()
    assert nets["discriminator"].style_proj.weight.grad.abs().sum() > 0
    loss, logs = g_loss(nets, batch, 0, exp)
    assert "proj" in logs and np.isfinite(logs["proj"])
    exp.loss.lambda_proj = 0.0
    assert "proj" not in g_loss(nets, batch, 0, exp)[1]


def test_speaker_disjoint_split(held_out, tiny_corpus, tmp_path):
    dump = Dump(held_out.data.dump_dir, held_out.features)
    assert dump.domains == ["low", "mid"]
    unseen = dump.utterances("unseen")
    assert {u.domain for u in unseen} == {"high"} and len(unseen) == 6
    for split in ("train", "dev", "test", "all"):
        assert all(u.domain != "high" for u in dump.utterances(split))
    assert "high" not in dump.stats.lf0_mean  # nothing of the held-out voice reaches training
    with pytest.raises(DataError, match="every domain"):
        prepare(experiment_config(tiny_corpus, tmp_path / "d", unseen_domains=["*"]), progress=False)


def test_reference_voice_brings_its_own_pitch_and_moments(shared_ckpt, tiny_corpus):
    from vc.audio import load

    conv = vc.load(shared_ckpt, device="cpu")
    assert conv.any_to_any
    ref = load(tiny_corpus / "high" / "high_001.wav", conv.sample_rate)
    src = load(tiny_corpus / "low" / "low_001.wav", conv.sample_rate)
    style = conv.style(ref=ref, sr=conv.sample_rate)
    assert style.target == -1 and style.voice is not None
    assert abs(np.exp(style.voice.lf0_mean) - 230.0) < 25.0  # the unseen voice's own pitch, 230 Hz
    # F0 mapped to the reference's statistics, not to a training domain's: the source domain's mean
    # pitch lands on the reference's
    f0 = np.full(50, np.exp(conv.stats.lf0_mean["low"]))
    mapped = conv._map_f0(f0, "low", style)
    assert abs(np.median(mapped) - np.exp(style.voice.lf0_mean)) < 1.0
    wav, sr = conv(src, sr=conv.sample_rate, ref=ref)
    assert wav.shape == src.shape and np.isfinite(wav).all()
    # a target alongside the reference keeps today's behaviour: that domain's statistics
    assert conv.style(target="mid", ref=ref, sr=conv.sample_rate).voice is None


@pytest.mark.parametrize("source", [None, "low"])
def test_streaming_to_an_unseen_reference(shared_ckpt, tiny_corpus, source):
    from vc.audio import load
    from vc.streaming import Stream

    conv = vc.load(shared_ckpt, device="cpu")
    src = load(tiny_corpus / "low" / "low_001.wav", conv.sample_rate)
    stream = Stream(conv, ref=tiny_corpus / "high" / "high_001.wav", source=source)
    assert stream.target is None
    out = np.concatenate([stream.feed(src[i : i + 1000]) for i in range(0, len(src), 1000)] + [stream.flush()])
    assert out.shape == src.shape and np.isfinite(out).all() and np.abs(out).max() > 0


def test_reference_without_voiced_speech_is_refused(shared_ckpt):
    conv = vc.load(shared_ckpt, device="cpu")
    noise = np.random.default_rng(0).standard_normal(conv.sample_rate).astype(np.float32) * 1e-3
    with pytest.raises(VCError, match="too little voiced speech"):
        conv.style(ref=noise, sr=conv.sample_rate)


def test_old_checkpoints_without_the_switch_still_load(trained_ckpt):
    from vc.convert.converter import Converter
    from vc.train.checkpoint import load_checkpoint

    state = load_checkpoint(trained_ckpt, map_location="cpu")
    for key in ("style_head", "disc_projection"):
        state["config"]["model"].pop(key, None)
    conv = Converter(state, device="cpu")
    assert not conv.any_to_any


def test_cli_converts_to_an_unseen_reference(shared_ckpt, tiny_corpus, tmp_path):
    out = tmp_path / "out.wav"
    proc = subprocess.run(["vc-convert", "--ckpt", str(shared_ckpt), "--src", str(tiny_corpus / "low" / "low_001.wav"),
                           "--ref", str(tiny_corpus / "high" / "high_002.wav"), "--out", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "converting to the voice of" in proc.stderr and out.is_file()


def test_unseen_summary_keeps_every_dnsmos_score():
    """The reference-clip evaluation summarises all four DNSMOS scores like the other reports, and its
    headline gives P.808 beside P.835 OVRL; rows scored before P.808 was kept give the old headline."""
    from vc.eval.unseen import _summary, unseen_headline

    rows = [{f"{s}_{k}": v for s in ("reference", "nearest") for k, v in
             (("sim_ref", 0.7 + 0.1 * i), ("sim_src", 0.6), ("dnsmos", 3.0 + i), ("dnsmos_sig", 3.4),
              ("dnsmos_bak", 4.0), ("dnsmos_p808", 3.5 - (s == "nearest") * 0.5))} for i in range(2)]
    ref = _summary(rows, "reference")
    assert {"dnsmos", "dnsmos_sig", "dnsmos_bak", "dnsmos_p808"} <= set(ref)
    assert ref["dnsmos"]["mean"] == pytest.approx(3.5) and ref["dnsmos_p808"]["n"] == 2
    scores = {"reference": ref, "nearest": _summary(rows, "nearest"), "n_conversions": 2, "n_speakers": 1,
              "reference_minus_nearest": {"mean": 0.0, "ci95": [-0.1, 0.1]}}
    assert unseen_headline(scores).endswith("| DNSMOS 3.50 vs 3.50 (P.808 3.50 vs 3.00)")
    older = [{k: v for k, v in r.items() if not k.endswith(("_sig", "_bak", "_p808"))} for r in rows]
    scores.update(reference=_summary(older, "reference"), nearest=_summary(older, "nearest"))
    assert "dnsmos_p808" not in scores["reference"]
    assert unseen_headline(scores).endswith("| DNSMOS 3.50 vs 3.50")


def test_unseen_voice_evaluation(shared_ckpt, held_out, tiny_corpus, tmp_path):
    pytest.importorskip("resemblyzer")
    refs = tmp_path / "refs"
    (refs / "high").mkdir(parents=True)
    for i in range(2):
        shutil.copy(tiny_corpus / "high" / f"high_00{i + 1}.wav", refs / "high")
    (refs / "broken.wav").write_bytes(b"not audio")
    proc = subprocess.run(["vc-eval", "--ckpt", str(shared_ckpt), "--refs", str(refs), "--max-utts", "1",
                           "--out", str(tmp_path / "ev")], capture_output=True, text=True)
    assert proc.returncode == 1, proc.stderr  # one reference was unusable, the rest still scored
    assert "broken" in proc.stderr and "Traceback" not in proc.stderr
    scores = json.loads((tmp_path / "ev" / "scores.json").read_text())
    assert scores["n_speakers"] == 1 and scores["n_conversions"] == scores["n_sources"] == 2
    assert scores["nearest_domain"]["high"] in ("low", "mid") and scores["any_to_any"]
    for system in ("reference", "nearest"):
        assert 0.0 <= scores[system]["closer_to_reference"]["mean"] <= 1.0
        assert -1.0 <= scores[system]["sim_reference"]["mean"] <= 1.0
    diff = scores["reference_minus_nearest"]["mean"]
    assert diff == pytest.approx(scores["reference"]["sim_reference"]["mean"]
                                 - scores["nearest"]["sim_reference"]["mean"])
    assert "unseen voices: 2 conversions to 1 speakers" in proc.stdout
    assert (tmp_path / "ev" / "report.html").is_file()
    # the dump's own held-out domains
    proc = subprocess.run(["vc-eval", "--ckpt", str(shared_ckpt), "--refs", "unseen", "--max-utts", "1",
                           "--out", str(tmp_path / "ev2")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.slow
def test_an_unseen_voice_pulls_the_conversion_towards_it(tmp_path):
    """Trained on three voices, the model converts audio towards a fourth it never saw, in pitch and in
    the coded spectral envelope (measured by analysing the converted audio again), and closer than a
    conversion to the nearest training voice gets."""
    from vc.audio import load
    from vc.features import extract

    domains = {"low": dict(f0=100.0, tilt=-3.0), "mid": dict(f0=150.0, tilt=0.0, formant_shift=1.04),
               "top": dict(f0=280.0, tilt=6.0, formant_shift=1.25),
               "new": dict(f0=210.0, tilt=3.0, formant_shift=1.15)}
    root = make_corpus(tmp_path / "corpus", "generic", domains, n_per_domain=6, seconds=1.0, sr=16000)
    cfg = experiment_config(root, tmp_path / "dump", features={"kind": "world"}, unseen_domains=["new"])
    prepare(cfg, progress=False)
    exp = tiny_experiment(
        cfg, tmp_path / "exp", model=dict(SHARED, f0_net_steps=0, generator_base="statistical"),
        train=dict(max_steps=60, eval_every=0, save_every=0, lr=3e-4, lr_d=3e-4, lr_f=3e-5),
        loss=dict(adv_cls_start_step=10**9, lambda_ds=0.0),
    )
    conv = vc.load(train(exp, device="cpu"), device="cpu")
    sr = conv.sample_rate

    def envelope(wavs):  # mean coded envelope over the voiced frames of several clips, without c0 (loudness)
        frames = []
        for w in wavs:
            f = extract(w, conv.features)
            frames.append(f.feats[f.f0 > 0, 1:])
        return np.concatenate(frames).mean(axis=0)

    def clips(domain, n=6):
        return [load(p, sr) for p in sorted((root / domain).glob("*.wav"))[:n]]

    unseen = clips("new")
    ref, ref_env = unseen[0], envelope(unseen)
    ref_f0 = np.exp(conv.style(ref=ref, sr=sr).voice.lf0_mean)
    # the baseline: conversion to the training voice closest to the unseen one
    nearest = min(conv.domains, key=lambda d: np.linalg.norm(envelope(clips(d, 3)) - ref_env))
    for domain in ("low", "top"):
        sources = clips(domain, 3)
        ours = [conv(w, sr=sr, ref=ref)[0] for w in sources]
        base = [conv(w, sr=sr, target=nearest, seed=0)[0] for w in sources]
        before = np.linalg.norm(envelope(sources) - ref_env)
        after = np.linalg.norm(envelope(ours) - ref_env)
        baseline = np.linalg.norm(envelope(base) - ref_env)
        assert after < 0.8 * before, f"{domain}: envelope distance to the unseen voice {before:.2f} -> {after:.2f}"
        assert after < baseline, f"{domain}: {after:.2f} is no closer than the nearest training voice's {baseline:.2f}"
        out_f0 = np.median([np.median(f0[f0 > 0]) for f0 in (extract(w, conv.features).f0 for w in ours)])
        src_f0 = np.median([np.median(f0[f0 > 0]) for f0 in (extract(w, conv.features).f0 for w in sources)])
        assert abs(np.log(out_f0 / ref_f0)) < 0.5 * abs(np.log(src_f0 / ref_f0)), (domain, src_f0, out_f0, ref_f0)


def test_config_round_trip_keeps_the_switch(held_out):
    exp = tiny_experiment(held_out, "exp", model=SHARED)
    again = from_dict(ExperimentConfig, to_dict(exp))
    assert again.model.style_head == "shared" and again.model.disc_projection
    with pytest.raises(ConfigError, match="style_head"):
        from_dict(ExperimentConfig, {"model": {"style_head": "per_speaker"}})


def test_web_page_job_converts_to_the_reference_voice(shared_ckpt, tiny_corpus, tmp_path):
    from vc.ui import jobs

    conv = vc.load(shared_ckpt, device="cpu")
    res = jobs.convert_clip(conv, tmp_path / "req", str(tiny_corpus / "low" / "low_001.wav"),
                            ref=str(tiny_corpus / "high" / "high_001.wav"), plot=False)
    assert "the voice of the reference clip" in res.message and len(res.wavs) == 1 and res.wavs[0].is_file()


def test_knn_base_takes_an_unseen_reference_clips_frames(held_out, tiny_corpus, tmp_path):
    """On the kNN base, conversion to the voice of a clip matches against that clip's own frames: at
    strength 0 the output frames lie closer to the reference's frames than the moment-matched base
    alone puts them; offline and streaming conversion both run."""
    from vc.audio import load
    from vc.models.knn import match_features
    from vc.models.moments import apply_shift
    from vc.streaming import Stream

    exp = tiny_experiment(held_out, tmp_path / "exp",
                          model=dict(SHARED, f0_net_steps=0, generator_base="knn", knn_pool_frames=200),
                          train=dict(max_steps=2, eval_every=0, save_every=0))
    conv = vc.load(train(exp, device="cpu"), device="cpu", strength=0.0)
    ref = load(tiny_corpus / "high" / "high_001.wav", conv.sample_rate)
    src = load(tiny_corpus / "low" / "low_001.wav", conv.sample_rate)
    style = conv.style(ref=ref, sr=conv.sample_rate)
    kwargs = conv.convert_kwargs(style)
    frames, voiced, lf0z = kwargs["pool"]
    assert lf0z.shape == voiced.shape
    assert frames.shape[0] == voiced.shape[0] > 0
    feats, x = conv._feature_image(src)
    f0n = torch.from_numpy(conv._f0_norm(feats.f0, None)).float()[None]
    shift = conv._clip_shift(src, style)
    with_pool = conv.family.convert(conv.nets, x, f0n, -1, -1, style.vector, shift=shift, **kwargs)
    base_only = apply_shift(x, shift)  # the warped moments of the reference alone

    def distance_to_reference(y):
        q = match_features(y[0, 0].T.float(), "world")
        r = match_features(frames.float(), "world")
        return torch.cdist(q, r).min(dim=1).values.mean()

    assert distance_to_reference(with_pool) < 0.9 * distance_to_reference(base_only)
    wav, _ = conv(src, sr=conv.sample_rate, ref=ref)
    assert wav.shape == src.shape and np.isfinite(wav).all()
    # model.knn_intonation takes the pitch movement from the reference clip's own matched frames
    conv.cfg.model.knn_intonation = 0.5
    assert conv.wants_intonation(style)
    _, z = conv.family.convert(conv.nets, x, f0n, -1, -1, style.vector, shift=shift, intonation=True, **kwargs)
    z = z[0].numpy()
    assert z.shape == feats.f0.shape and np.isfinite(z).all()
    assert np.all(z[feats.f0 == 0] == 0) and np.abs(z[feats.f0 > 0]).sum() > 0
    wav, _ = conv(src, sr=conv.sample_rate, ref=ref)
    assert wav.shape == src.shape and np.isfinite(wav).all()
    stream = Stream(conv, ref=tiny_corpus / "high" / "high_001.wav")
    out = np.concatenate([stream.feed(src[i : i + 1000]) for i in range(0, len(src), 1000)] + [stream.flush()])
    assert out.shape == src.shape and np.isfinite(out).all()
