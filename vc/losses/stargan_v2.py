"""StarGAN v2-VC losses: one discriminator step and one generator step, both style branches.

Each training step converts every source clip ``x`` twice, to the batch's target domain ``y_ref``:
with a style from the mapping network on a fresh latent (latent-guided) and with a style the style
encoder reads off the reference crop ``x_ref`` (reference-guided). The two branches are stacked
into one batch of 2B, so one forward pass serves both (StarGAN v2 runs them as two updates). With
``loss.split_branches`` the first half of the batch takes the latent branch and the second half the
reference branch (a batch of B: half the generator compute).

Discriminator (:func:`d_loss`)::

    λ_adv·(real + fake) + λ_r1·R1 + λ_cls_real·CE(D.classify(real), domain)
        + λ_adv_cls·CE(D.classify(fake), source)                                    [from adv_cls_start_step]

Generator (:func:`g_loss`)::

    λ_adv·adv + λ_sty·sty − λ_ds(t)·ds + λ_cyc·cyc + λ_norm·norm + λ_f0·f0
        + (λ_cls_real + λ_adv_cls)·CE(D.classify(fake), target)                     [λ_adv_cls from its start step]
        + λ_prematch·‖G(x + knn_{y, without x's utterance}(x), F(z, y)) − x‖₁         [kNN base only]

With ``model.disc_projection`` both add ``λ_proj`` times a style-conditioned adversarial pair
(:func:`_projection_active`): D sees real speech of the target domain (``x_ref``) with the style the
style encoder reads off *another* of its clips (``x_ref2``), against each conversion with the style it
was made with; G wants its conversions judged real for that style. The styles are fixed (no
gradient) in these terms, so the style encoder cannot make them easy; they train the generator to
follow a style code rather than a domain, which is what a shared style head needs.

``λ_cls_real`` (``loss.lambda_cls_real``, 0 in the paper's recipe) is StarGAN's domain classification
loss: D's classifier head also learns which domain *real* speech belongs to, from the first step, and
the generator learns to make its conversions classified as the target: a direct pull towards the
target speaker that the patch-wise real/fake judgement alone does not give.

* ``sty``  ‖s̃ − E_ỹ(G(x, s̃))‖₁, ``ds`` ‖G(x, s̃₁) − G(x, s̃₂)‖₁ (s̃₂ from z₂ / x_ref2, no grad),
  ``cyc`` ‖x − G(G(x, s̃), E_y(x))‖₁;
* ``norm``: per-frame energy of the conversion follows the source (:func:`frame_energy`), L1 over
  frames. On log-mel features the energy proxy is the mean over Q of the normalised image (an affine
  function of the frame's mean log-magnitude); on WORLD's coded envelope, a cepstrum in which a gain
  moves only c0, it is row 0 alone, so the loss follows loudness and leaves the spectral shape free.
* adversarial terms judge every patch of D's last feature map (PatchGAN) with ``loss.adv_per_patch``
  (default), or the patch-averaged logit per clip without it.
* with ``model.generator_base: statistical`` the generator converts the statistical conversion of
  ``x`` (:mod:`vc.models.moments`) instead of ``x`` itself, in every pass (the cycle's way back
  shifts the conversion from the target's moments to the source's); the energy the norm term
  compares with is that of the generator's input.
* ``f0``: :func:`vc.models.f0net.pitch_consistency_loss` when ``aux["f0_net"]`` exists and
  ``λ_f0 > 0``.

Everything is computed in float32 (logits cast before the loss); the discriminator's real pass
(used by R1) runs outside autocast. Logs are python floats; a term that is not active at this step
(adversarial classifier before its start step, pitch without an F0 net, diversity once λ_ds(t) is
0) is absent from the logs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vc.losses.adversarial import d_fake_loss, d_real_loss, g_adv_loss, r1_penalty
from vc.models.f0net import pitch_consistency_loss

Batch = Mapping[str, Any]
Nets = Mapping[str, nn.Module]


def _loss_cfg(cfg: Any):
    return cfg.loss if hasattr(cfg, "loss") else cfg


def ds_weight(step: int, loss_cfg: Any) -> float:
    """λ_ds at ``step``: ``lambda_ds`` decaying linearly to 0 at ``ds_decay_steps`` (0: no decay)."""
    if loss_cfg.ds_decay_steps <= 0:
        return float(loss_cfg.lambda_ds)
    return float(loss_cfg.lambda_ds) * max(0.0, 1.0 - step / loss_cfg.ds_decay_steps)


def frame_energy(x: torch.Tensor, kind: str = "mel") -> torch.Tensor:
    """Loudness proxy of a normalised feature image: ``x (B, 1, Q, N) -> (B, N)``.

    ``kind`` is ``features.kind``: for ``mel`` the mean over Q; for ``world`` row 0 (c0 of the coded
    envelope, the log power; the other rows are spectral shape, which a gain leaves unchanged)."""
    if kind == "world":
        return x[:, 0, 0, :].float()
    return x.float().mean(dim=(1, 2))


def norm_consistency_loss(x_real: torch.Tensor, x_fake: torch.Tensor, kind: str = "mel") -> torch.Tensor:
    """L1 between the per-frame energies of source and conversion (see the module docstring)."""
    return (frame_energy(x_fake, kind) - frame_energy(x_real, kind)).abs().mean()


def _feature_kind(cfg: Any) -> str:
    features = getattr(cfg, "features", None)
    return getattr(features, "kind", "mel")


def l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a.float() - b.float()).abs().mean()


@contextlib.contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """Forward passes inside record no parameter gradients for ``module`` (inputs still get them).

    The generator step backpropagates *through* D; without this, backward would also compute D's
    weight gradients, which the D step then throws away.
    """
    flags = [p.requires_grad for p in module.parameters()]
    module.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(module.parameters(), flags):
            p.requires_grad_(flag)


def _no_autocast(device: torch.device):
    return torch.autocast(device_type=device.type, enabled=False)


def _pick(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``logits (B, K[, P])`` read at ``y (B,)`` -> ``(B[, P])``."""
    return logits[torch.arange(logits.shape[0], device=logits.device), y]


def _judge(D: nn.Module, x: torch.Tensor, y: torch.Tensor, per_patch: bool, s: torch.Tensor | None = None):
    """D's real/fake logits for ``x`` read at ``y``, ``(B, P)`` per patch or ``(B,)`` patch-averaged,
    its source-classifier logits ``(B, K)``, and its style logits ``(B, P)`` for the styles ``s``
    (None without ``s``), from one trunk pass."""
    if s is None:
        adv, cls = D.patch_logits_and_classes(x)
        style = None
    else:
        adv, cls, style = D.patch_logits_and_classes(x, s)
    return _pick(adv if per_patch else adv.mean(dim=2), y), cls, style


def _base(nets: Nets, x: torch.Tensor, y_src: torch.Tensor, y_tgt: torch.Tensor,
          voiced: torch.Tensor | None) -> torch.Tensor:
    """The generator's input for converting ``x`` from ``y_src`` to ``y_tgt`` (see the module docstring);
    ``voiced (B, N)`` is read by the kNN base."""
    from vc.models.stargan_v2 import generator_input

    return generator_input(nets, x, y_src, y_tgt, voiced=voiced)


def _forward_base(nets: Nets, batch: Batch, br: _Branches) -> torch.Tensor:
    """The generator's input for the batch's conversions (stacked as ``br`` stacks them). It depends on
    the data alone, so the discriminator and generator steps of a batch share it: it is kept in the
    batch under ``"x_in"`` (the kNN base's matching is the costly part of a step otherwise)."""
    key = ("x_in", br.lat, br.ref)
    cached = batch.get("x_in")
    if cached is not None and cached[0] == key:
        return cached[1]
    x_in = _base(nets, br.src(batch["x"]), br.src(batch["y"]), br.src(batch["y_ref"]), br.src(_voiced(batch)))
    if isinstance(batch, dict):
        batch["x_in"] = (key, x_in)
    return x_in


def _masked_ce(logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Cross-entropy on the rows where ``mask`` holds; 0 (still in the graph) when none does."""
    if not bool(mask.any()):
        return logits.float().sum() * 0.0
    return F.cross_entropy(logits[mask].float(), labels[mask])


class _Branches:
    """Which clips take the latent-guided and which the reference-guided branch.

    Styles and source tensors are stacked as ``[latent rows; reference rows]``: every clip twice
    (2B rows), or with ``split`` the first half latent and the rest reference (B rows).
    """

    def __init__(self, b: int, split: bool):
        if split and b >= 2:
            self.lat, self.ref = slice(0, b // 2), slice(b // 2, b)
        else:
            self.lat, self.ref = slice(0, b), slice(0, b)

    def src(self, t: torch.Tensor | None) -> torch.Tensor | None:
        """Per-clip tensor ``(B, ...)`` -> the rows of the stacked conversions."""
        return None if t is None else torch.cat([t[self.lat], t[self.ref]], dim=0)

    def styles(self, nets: Nets, batch: Batch, ref_key: str) -> torch.Tensor:
        """Target styles ``(rows, S)``: mapping network on fresh latents, style encoder on ``batch[ref_key]``."""
        y_trg = batch["y_ref"]
        y_lat = y_trg[self.lat]
        z = torch.randn(y_lat.shape[0], nets["mapping"].latent_dim, device=y_lat.device)
        s_lat = nets["mapping"](z, y_lat)
        s_ref = nets["style_encoder"](batch[ref_key][self.ref], y_trg[self.ref])
        return torch.cat([s_lat, s_ref], dim=0)


def _voiced(batch: Batch) -> torch.Tensor:
    if "voiced" in batch:
        return batch["voiced"]
    return (batch["f0n"] != 0).float()


def _prematch_active(nets: Nets, lc: Any) -> bool:
    return lc.lambda_prematch > 0 and "pool" in nets


def prematch_loss(nets: Nets, batch: Batch) -> torch.Tensor:
    """Self-reconstruction through the kNN base (``loss.lambda_prematch``): each clip ``x`` with the kNN
    correction towards its own domain, its own utterance (``batch["utt"]``) left out of the pool, then
    the generator with a latent-guided style of that domain; L1 to ``x``. (The moments part of the
    base is the identity from a domain to itself, so the correction is all there is to undo.)"""
    x, y = batch["x"], batch["y"]
    with torch.no_grad():
        x_self = x + nets["pool"].correction(x, _voiced(batch), targets=y, leave_out=batch.get("utt"))
    z = torch.randn(x.shape[0], nets["mapping"].latent_dim, device=x.device)
    return l1(nets["generator"](x_self, nets["mapping"](z, y), batch.get("f0n")), x)


def _f0_active(cfg: Any, aux: Mapping[str, nn.Module] | None) -> bool:
    return bool(aux) and "f0_net" in aux and _loss_cfg(cfg).lambda_f0 > 0


def _adv_cls_active(step: int, lc: Any) -> bool:
    return lc.lambda_adv_cls > 0 and step >= lc.adv_cls_start_step


def _projection_active(D: nn.Module, lc: Any) -> bool:
    return lc.lambda_proj > 0 and getattr(D, "has_projection", False)


def d_loss(nets: Nets, batch: Batch, step: int, cfg: Any, aux: Mapping[str, nn.Module] | None = None
           ) -> tuple[torch.Tensor, dict[str, float]]:
    """Discriminator loss of one step. Logs: ``d_real``, ``d_fake``, ``d_r1`` [, ``d_adv_cls``,
    ``d_cls_real``, ``d_proj``]."""
    lc = _loss_cfg(cfg)
    G, D = nets["generator"], nets["discriminator"]
    x, y, y_trg = batch["x"], batch["y"], batch["y_ref"]
    br = _Branches(x.shape[0], lc.split_branches)

    x_real = x.detach().float().requires_grad_(True)
    with _no_autocast(x.device):
        real_patches, real_cls = D.patch_logits_and_classes(x_real)
        real_logits = _pick(real_patches, y)  # (B, P)
    loss_real = d_real_loss(real_logits if lc.adv_per_patch else real_logits.mean(dim=1), lc.adv_type)
    # R1 on each clip's patch-averaged logit, so its strength does not grow with the number of patches
    loss_r1 = r1_penalty(real_logits.mean(dim=1), x_real) if lc.lambda_r1 > 0 else real_logits.new_zeros(())

    y_org2, y_trg2 = br.src(y), br.src(y_trg)
    with torch.no_grad():
        s_fake = br.styles(nets, batch, "x_ref")
        x_fake = G(_forward_base(nets, batch, br), s_fake, br.src(batch.get("f0n")))
    projection = _projection_active(D, lc)
    fake_logits, cls_logits, fake_style = _judge(D, x_fake, y_trg2, lc.adv_per_patch, s_fake if projection else None)
    loss_fake = d_fake_loss(fake_logits, lc.adv_type)

    logs = {"d_real": float(loss_real.detach()), "d_fake": float(loss_fake.detach()), "d_r1": float(loss_r1.detach())}
    loss_proj = loss_fake.new_zeros(())
    if projection:
        with torch.no_grad():
            s_real = nets["style_encoder"](batch["x_ref2"], y_trg)
        loss_proj = (d_real_loss(D.style_logits(batch["x_ref"].float(), s_real), lc.adv_type)
                     + d_fake_loss(fake_style, lc.adv_type))
        logs["d_proj"] = float(loss_proj.detach())
    loss_cls = loss_fake.new_zeros(())
    if _adv_cls_active(step, lc):
        # D learns to tell which domain a conversion came from (only meaningful when it moved).
        loss_cls = _masked_ce(cls_logits, y_org2, y_org2 != y_trg2)
        logs["d_adv_cls"] = float(loss_cls.detach())

    loss_cls_real = loss_fake.new_zeros(())
    if lc.lambda_cls_real > 0:
        loss_cls_real = F.cross_entropy(real_cls.float(), y)
        logs["d_cls_real"] = float(loss_cls_real.detach())

    loss = (lc.lambda_adv * (loss_real + loss_fake) + lc.lambda_r1 * loss_r1 + lc.lambda_adv_cls * loss_cls
            + lc.lambda_cls_real * loss_cls_real + lc.lambda_proj * loss_proj)
    return loss, logs


def g_loss(nets: Nets, batch: Batch, step: int, cfg: Any, aux: Mapping[str, nn.Module] | None = None
           ) -> tuple[torch.Tensor, dict[str, float]]:
    """Generator loss of one step (trains G, F and E). Logs: ``adv``, ``sty``, ``cyc``, ``norm``,
    ``lambda_ds`` [, ``ds``, ``f0``, ``adv_cls``, ``cls``, ``proj``]."""
    lc = _loss_cfg(cfg)
    G, E, D = nets["generator"], nets["style_encoder"], nets["discriminator"]
    x, y, y_trg = batch["x"], batch["y"], batch["y_ref"]
    br = _Branches(x.shape[0], lc.split_branches)
    x2, f0n2, y_org2, y_trg2 = br.src(x), br.src(batch.get("f0n")), br.src(y), br.src(y_trg)

    s_trg = br.styles(nets, batch, "x_ref")  # (2B or B, S)
    x_in = _forward_base(nets, batch, br)
    x_fake = G(x_in, s_trg, f0n2)
    with frozen(D):
        fake_logits, cls_logits, fake_style = _judge(D, x_fake, y_trg2, lc.adv_per_patch,
                                                     s_trg.detach() if _projection_active(D, lc) else None)
    loss_proj = g_adv_loss(fake_style, lc.adv_type) if fake_style is not None else None
    loss_adv = g_adv_loss(fake_logits, lc.adv_type)

    loss_sty = l1(E(x_fake, y_trg2), s_trg)

    lambda_ds = ds_weight(step, lc)
    loss_ds = x_fake.new_zeros((), dtype=torch.float32)
    if lambda_ds > 0:
        with torch.no_grad():  # the second conversion is a fixed target, as in StarGAN v2
            x_fake2 = G(x_in, br.styles(nets, batch, "x_ref2"), f0n2)
        loss_ds = l1(x_fake, x_fake2)

    s_org = E(x, y)
    x_rec = G(_base(nets, x_fake, y_trg2, y_org2, br.src(_voiced(batch))), br.src(s_org), f0n2)
    loss_cyc = l1(x_rec, x2)

    loss_norm = norm_consistency_loss(x_in, x_fake, _feature_kind(cfg))

    loss_f0 = loss_cyc.new_zeros(())
    if _f0_active(cfg, aux):
        loss_f0 = pitch_consistency_loss(aux["f0_net"], x2, x_fake, br.src(_voiced(batch)))

    loss_cls = loss_cyc.new_zeros(())
    if _adv_cls_active(step, lc):
        # G wants the source classifier to name the *target* domain, i.e. no trace of the source.
        loss_cls = _masked_ce(cls_logits, y_trg2, y_org2 != y_trg2)

    loss_cls_fake = loss_cyc.new_zeros(())
    if lc.lambda_cls_real > 0:
        # StarGAN's domain classification: the conversion must be classified as its target
        loss_cls_fake = F.cross_entropy(cls_logits.float(), y_trg2)

    loss_pre = prematch_loss(nets, batch) if _prematch_active(nets, lc) else None

    loss = (lc.lambda_adv * loss_adv + lc.lambda_sty * loss_sty - lambda_ds * loss_ds + lc.lambda_cyc * loss_cyc
            + lc.lambda_norm * loss_norm + lc.lambda_f0 * loss_f0 + lc.lambda_adv_cls * loss_cls
            + lc.lambda_cls_real * loss_cls_fake)
    if loss_proj is not None:
        loss = loss + lc.lambda_proj * loss_proj
    if loss_pre is not None:
        loss = loss + lc.lambda_prematch * loss_pre

    logs = {"adv": loss_adv, "sty": loss_sty, "cyc": loss_cyc, "norm": loss_norm}
    if loss_proj is not None:
        logs["proj"] = loss_proj
    if loss_pre is not None:
        logs["pre"] = loss_pre
    if lambda_ds > 0:
        logs["ds"] = loss_ds
    if _f0_active(cfg, aux):
        logs["f0"] = loss_f0
    if _adv_cls_active(step, lc):
        logs["adv_cls"] = loss_cls
    if lc.lambda_cls_real > 0:
        logs["cls"] = loss_cls_fake
    out = {k: float(v.detach()) for k, v in logs.items()}
    out["lambda_ds"] = lambda_ds
    return loss, out


@torch.no_grad()
def dev_losses(nets: Nets, batch: Batch, cfg: Any, aux: Mapping[str, nn.Module] | None = None) -> dict[str, float]:
    """Adversarial-free losses of the reference-guided branch (deterministic for a fixed batch):
    ``sty``, ``cyc``, ``norm`` [, ``f0``] and their weighted sum ``total``."""
    lc = _loss_cfg(cfg)
    G, E = nets["generator"], nets["style_encoder"]
    x, y, y_trg = batch["x"], batch["y"], batch["y_ref"]
    f0n = batch.get("f0n")

    s_trg = E(batch["x_ref"], y_trg)
    voiced = _voiced(batch)
    x_in = _base(nets, x, y, y_trg, voiced)
    x_fake = G(x_in, s_trg, f0n)
    logs = {
        "sty": float(l1(E(x_fake, y_trg), s_trg)),
        "cyc": float(l1(G(_base(nets, x_fake, y_trg, y, voiced), E(x, y), f0n), x)),
        "norm": float(norm_consistency_loss(x_in, x_fake, _feature_kind(cfg))),
    }
    total = lc.lambda_sty * logs["sty"] + lc.lambda_cyc * logs["cyc"] + lc.lambda_norm * logs["norm"]
    if _f0_active(cfg, aux):
        logs["f0"] = float(pitch_consistency_loss(aux["f0_net"], x, x_fake, _voiced(batch)))
        total += lc.lambda_f0 * logs["f0"]
    logs["total"] = total
    return logs
