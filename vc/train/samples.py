"""TensorBoard samples during training: feature images and audio of one conversion."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from vc.errors import VCError

if TYPE_CHECKING:
    from vc.train.loop import Trainer


def feature_figure(images: dict[str, np.ndarray]):
    """A column of (Q, N) feature images, one per title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(images), 1, figsize=(8, 2.2 * len(images)), squeeze=False)
    for ax, (title, img) in zip(axes[:, 0], images.items()):
        ax.imshow(img, origin="lower", aspect="auto", interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("frame")
    fig.tight_layout()
    return fig


@torch.no_grad()
def log_samples(trainer: Trainer, seed: int = 0) -> None:
    """Convert the first dev utterance (train if no dev split) to the next domain with the EMA nets."""
    if trainer.writer is None:
        return
    from vc.vocoders import default_vocoder_name, get_vocoder

    dump, cfg, fam = trainer.dump, trainer.cfg, trainer.family
    utts = dump.utterances("dev") or dump.utterances("train")
    utt = utts[0]
    feats = dump.load(utt.utt_id)
    src = dump.domains.index(utt.domain)
    tgt = (src + 1) % len(dump.domains)
    x = torch.from_numpy(dump.stats.normalize(feats.feats).T.copy()).float()[None, None].to(trainer.device)
    f0n = torch.from_numpy(dump.stats.f0_normalized(feats.f0, utt.domain)).float()[None].to(trainer.device)
    nets = {**trainer.nets, **trainer.ema}
    gen = torch.Generator(device="cpu").manual_seed(seed)
    z = torch.randn(1, cfg.model.latent_dim, generator=gen).to(trainer.device)
    style = fam.style(nets, tgt, z=z)
    y = fam.convert(nets, x, f0n, src, tgt, style).float()
    step = trainer.step
    fig = feature_figure({
        f"source {utt.utt_id} ({utt.domain})": x[0, 0].cpu().numpy(),
        f"converted to {dump.domains[tgt]}": y[0, 0].cpu().numpy(),
    })
    trainer.writer.add_figure("samples/features", fig, step)
    try:
        voc = get_vocoder(default_vocoder_name(cfg, trainer.out_dir), cfg.features, dump.stats)
        f0 = dump.stats.convert_f0(feats.f0, utt.domain, dump.domains[tgt])
        wav = voc(y[0, 0].cpu().numpy().T, f0=f0, ap=feats.ap)
        peak = float(np.max(np.abs(wav))) or 1.0
        trainer.writer.add_audio("samples/converted", torch.from_numpy(wav / peak)[None], step,
                                 sample_rate=cfg.features.sample_rate)
    except VCError as exc:  # a sample must never stop training; say why there is no audio
        trainer.writer.add_text("samples/vocoder_error", str(exc), step)
