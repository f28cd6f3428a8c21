"""A real learning check: StarGAN v2 learns to move a known spectral tilt between two domains."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import experiment_config, tiny_experiment
from synth import make_corpus

import vc
from vc.data import Dump, prepare
from vc.train import train


def spectral_tilt(feats: np.ndarray) -> float:
    """Slope (log10 magnitude per mel bin) of the mean log-mel spectrum of the louder half of the frames."""
    energy = feats.mean(axis=1)
    mean_spectrum = feats[energy >= np.median(energy)].mean(axis=0)
    return float(np.polyfit(np.arange(len(mean_spectrum)), mean_spectrum, 1)[0])


@pytest.mark.slow
def test_conversion_moves_the_spectral_tilt_towards_the_target(tmp_path):
    domains = {"dark": dict(f0=140.0, tilt=-9.0), "bright": dict(f0=140.0, tilt=9.0)}
    root = make_corpus(tmp_path / "corpus", "generic", domains, n_per_domain=8, seconds=1.0, sr=16000)
    cfg = experiment_config(root, tmp_path / "dump")
    prepare(cfg, progress=False)
    exp = tiny_experiment(
        cfg, tmp_path / "exp",
        model=dict(f0_net_steps=0),
        train=dict(max_steps=150, eval_every=0, save_every=0, lr=3e-4, lr_d=3e-4, lr_f=3e-5),
        loss=dict(adv_cls_start_step=10**9, lambda_ds=0.0),
    )
    conv = vc.load(train(exp, device="cpu"), device="cpu")
    dump = Dump(cfg.data.dump_dir, cfg.features)

    def tilts(domain: str, to: str | None = None) -> float:
        values = []
        for utt in [u for u in dump.utterances("train") if u.domain == domain][:4]:
            feats = dump.load(utt.utt_id)
            if to is None:
                values.append(spectral_tilt(feats.feats))
                continue
            x = torch.from_numpy(dump.stats.normalize(feats.feats).T.copy()).float()[None, None]
            f0n = torch.from_numpy(dump.stats.f0_normalized(feats.f0, domain)).float()[None]
            style = conv.style(to, seed=0)
            y = conv.family.convert(conv.nets, x, f0n, dump.domains.index(domain), style.target, style.vector)
            values.append(spectral_tilt(dump.stats.denormalize(y[0, 0].numpy().T)))
        return float(np.mean(values))

    dark, bright = tilts("dark"), tilts("bright")
    assert bright > dark  # the corpus really differs as intended
    forward = (tilts("dark", to="bright") - dark) / (bright - dark)
    backward = (tilts("bright", to="dark") - bright) / (dark - bright)
    assert forward >= 0.5, f"dark->bright moved only {forward:.0%} of the way"
    assert backward >= 0.5, f"bright->dark moved only {backward:.0%} of the way"
