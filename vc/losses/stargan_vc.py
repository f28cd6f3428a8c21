"""Step losses of the StarGAN-VC (``vc_*``) and StarGAN-VC2 (``vc2_*``) families.

Each step converts every source clip ``x`` (domain ``y``) to the batch's random target domain
``y_ref``. The adversarial objective is ``loss.adv_type`` (:mod:`vc.losses.adversarial`: the papers
use ``nonsat``, the cross-entropy GAN, for StarGAN-VC and ``lsgan`` for StarGAN-VC2).

StarGAN-VC (Kameoka et al. 2018)::

    D and C:  λ_adv·(adv_real(D(x, y)) + adv_fake(D(G(x, y'), y'))) + λ_cls·CE(C(x), y)
    G:        λ_adv·adv(D(G(x, y'), y')) + λ_cls·CE(C(G(x, y')), y') + λ_cyc·‖G(G(x, y'), y) − x‖₁
              + λ_id(t)·‖G(x, y) − x‖₁

D gives one logit per time patch and C per-patch class logits; every loss averages over patches,
so "real speech of domain c" and the class posterior are products over patches (means of logs).

StarGAN-VC2 (Kaneko et al. 2019), source-and-target conditional (D(·, source, target))::

    D:  λ_adv·(adv_real(D(x_ref, y, y')) + adv_fake(D(G(x, y, y'), y, y')))
    G:  λ_adv·adv(D(G(x, y, y'), y, y')) + λ_cyc·‖G(G(x, y, y'), y', y) − x‖₁ + λ_id(t)·‖G(x, y, y) − x‖₁

The real term shows D a real clip of the target domain ``y'`` (``x_ref``) paired with the source code
``y`` of the fakes it is compared with, so D sees real and converted speech under the same pairs
(the paper's ``D(x, c', c)`` for real ``x`` of domain ``c`` and a random ``c'``). The D step also
trains a small domain classifier on the real clips, ``CE(C(x), y) + CE(C(x_ref), y')`` (one mean),
used only to judge the source domain at conversion; it never reaches D or G.

``λ_id(t)`` is ``lambda_id`` before ``id_stop_step`` and 0 from then on (``id_stop_step: 0`` keeps it).
Everything is computed in float32 (logits cast before the loss). Logs are python floats; the
identity term appears in the logs only while it is active, ``lambda_id`` always.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vc.losses.adversarial import d_fake_loss, d_real_loss, g_adv_loss
from vc.losses.stargan_v2 import frozen, l1
from vc.models.stargan_vc import one_hot

Batch = Mapping[str, Any]
Nets = Mapping[str, nn.Module]


def _loss_cfg(cfg: Any):
    return cfg.loss if hasattr(cfg, "loss") else cfg


def id_weight(step: int, loss_cfg: Any) -> float:
    """λ_id at ``step``: ``lambda_id`` before ``id_stop_step``, then 0 (``id_stop_step <= 0``: always on)."""
    if loss_cfg.id_stop_step > 0 and step >= loss_cfg.id_stop_step:
        return 0.0
    return float(loss_cfg.lambda_id)


def dev_id_weight(loss_cfg: Any) -> float:
    """Weight of the identity term in the dev ``total``: only when it is never switched off, so
    totals before and after ``id_stop_step`` stay comparable for picking the best checkpoint."""
    return float(loss_cfg.lambda_id) if loss_cfg.id_stop_step <= 0 else 0.0


def patch_ce(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of per-patch class logits ``(B, K, P)`` against ``y (B,)``, averaged over patches
    and the batch, i.e. ``-log`` of the product over patches of p(y | patch), per patch."""
    return F.cross_entropy(logits.float(), y.long()[:, None].expand(-1, logits.shape[2]))


def _frozen(*modules: nn.Module) -> ExitStack:
    stack = ExitStack()
    for m in modules:
        stack.enter_context(frozen(m))
    return stack


@contextlib.contextmanager
def eval_mode(*modules: nn.Module) -> Iterator[None]:
    """Run ``modules`` in eval mode inside (batch norm uses, and does not update, its running stats),
    then restore each one's mode: dev losses must not change the nets they measure."""
    modes = [m.training for m in modules]
    try:
        for m in modules:
            m.eval()
        yield
    finally:
        for m, mode in zip(modules, modes):
            m.train(mode)


# ------------------------------------------------------------------------------------ StarGAN-VC
def vc_d_loss(nets: Nets, batch: Batch, step: int, cfg: Any, aux: Mapping[str, nn.Module] | None = None
              ) -> tuple[torch.Tensor, dict[str, float]]:
    """Discriminator and classifier loss of one step. Logs ``d_real``, ``d_fake`` [, ``d_cls``]."""
    del step, aux
    lc = _loss_cfg(cfg)
    G, D = nets["generator"], nets["discriminator"]
    x, y, y_trg = batch["x"], batch["y"], batch["y_ref"]
    k = G.num_domains
    c_trg = one_hot(y_trg, k)
    loss_real = d_real_loss(D(x, one_hot(y, k)), lc.adv_type)
    with torch.no_grad():
        x_fake = G(x, c_trg)
    loss_fake = d_fake_loss(D(x_fake, c_trg), lc.adv_type)
    loss = lc.lambda_adv * (loss_real + loss_fake)
    logs = {"d_real": float(loss_real.detach()), "d_fake": float(loss_fake.detach())}
    if lc.lambda_cls > 0:
        loss_cls = patch_ce(nets["classifier"](x), y)  # C learns the domains from real speech only
        loss = loss + lc.lambda_cls * loss_cls
        logs["d_cls"] = float(loss_cls.detach())
    return loss, logs


def _with_identity(loss: torch.Tensor, logs: dict[str, torch.Tensor], step: int, lc: Any,
                   identity: Callable[[], torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
    """Both families' generator-loss tail: add ``λ_id(step)·identity()`` while the identity term is on
    (the generator pass is only run then), and turn the logs into floats with ``lambda_id``."""
    lambda_id = id_weight(step, lc)
    if lambda_id > 0:
        loss_id = identity()
        loss = loss + lambda_id * loss_id
        logs["id"] = loss_id
    out = {name: float(v.detach()) for name, v in logs.items()}
    out["lambda_id"] = lambda_id
    return loss, out


def vc_g_loss(nets: Nets, batch: Batch, step: int, cfg: Any, aux: Mapping[str, nn.Module] | None = None
              ) -> tuple[torch.Tensor, dict[str, float]]:
    """Generator loss of one step. Logs ``adv``, ``cyc``, ``lambda_id`` [, ``cls``, ``id``]."""
    del aux
    lc = _loss_cfg(cfg)
    G, D, C = nets["generator"], nets["discriminator"], nets["classifier"]
    x, y, y_trg = batch["x"], batch["y"], batch["y_ref"]
    k = G.num_domains
    c_org, c_trg = one_hot(y, k), one_hot(y_trg, k)

    x_fake = G(x, c_trg)
    with _frozen(D, C):
        loss_adv = g_adv_loss(D(x_fake, c_trg), lc.adv_type)
        loss_cls = patch_ce(C(x_fake), y_trg) if lc.lambda_cls > 0 else None
    loss_cyc = l1(G(x_fake, c_org), x)
    loss = lc.lambda_adv * loss_adv + lc.lambda_cyc * loss_cyc
    logs = {"adv": loss_adv, "cyc": loss_cyc}
    if loss_cls is not None:
        loss = loss + lc.lambda_cls * loss_cls
        logs["cls"] = loss_cls
    return _with_identity(loss, logs, step, lc, lambda: l1(G(x, c_org), x))


@torch.no_grad()
def vc_dev_losses(nets: Nets, batch: Batch, cfg: Any, aux: Mapping[str, nn.Module] | None = None
                  ) -> dict[str, float]:
    """Adversarial-free losses of the nets in eval mode (deterministic for a fixed batch, and leaving
    batch-norm statistics alone): ``cls`` (C on the conversions),
    ``cyc``, ``id``, and ``total = λ_cls·cls + λ_cyc·cyc`` (+ ``λ_id·id`` when identity is never
    switched off, see :func:`dev_id_weight`)."""
    del aux
    lc = _loss_cfg(cfg)
    G, C = nets["generator"], nets["classifier"]
    x, y, y_trg = batch["x"], batch["y"], batch["y_ref"]
    k = G.num_domains
    c_org, c_trg = one_hot(y, k), one_hot(y_trg, k)
    with eval_mode(G, C):
        x_fake = G(x, c_trg)
        logs = {
            "cls": float(patch_ce(C(x_fake), y_trg)),
            "cyc": float(l1(G(x_fake, c_org), x)),
            "id": float(l1(G(x, c_org), x)),
        }
    logs["total"] = lc.lambda_cls * logs["cls"] + lc.lambda_cyc * logs["cyc"] + dev_id_weight(lc) * logs["id"]
    return logs


# ------------------------------------------------------------------------------------ StarGAN-VC2
def vc2_d_loss(nets: Nets, batch: Batch, step: int, cfg: Any, aux: Mapping[str, nn.Module] | None = None
               ) -> tuple[torch.Tensor, dict[str, float]]:
    """Source-and-target conditional discriminator loss, plus the source judge's cross-entropy on the
    real clips (unweighted: it trains only that classifier). Logs ``d_real``, ``d_fake``, ``d_cls``."""
    del step, aux
    lc = _loss_cfg(cfg)
    G, D = nets["generator"], nets["discriminator"]
    x, y, y_trg = batch["x"], batch["y"], batch["y_ref"]
    k = G.num_domains
    loss_real = d_real_loss(D(batch["x_ref"], y, y_trg), lc.adv_type)
    with torch.no_grad():
        x_fake = G(x, one_hot(y, k), one_hot(y_trg, k))
    loss_fake = d_fake_loss(D(x_fake, y, y_trg), lc.adv_type)
    # The source judge learns the domains of both real crops; no other loss reaches it, nor it them.
    loss_cls = patch_ce(nets["classifier"](torch.cat([x, batch["x_ref"]])), torch.cat([y, y_trg]))
    loss = lc.lambda_adv * (loss_real + loss_fake) + loss_cls
    logs = {"d_real": loss_real, "d_fake": loss_fake, "d_cls": loss_cls}
    return loss, {name: float(v.detach()) for name, v in logs.items()}


def vc2_g_loss(nets: Nets, batch: Batch, step: int, cfg: Any, aux: Mapping[str, nn.Module] | None = None
               ) -> tuple[torch.Tensor, dict[str, float]]:
    """Generator loss of one step. Logs ``adv``, ``cyc``, ``lambda_id`` [, ``id``]."""
    del aux
    lc = _loss_cfg(cfg)
    G, D = nets["generator"], nets["discriminator"]
    x, y, y_trg = batch["x"], batch["y"], batch["y_ref"]
    k = G.num_domains
    c_org, c_trg = one_hot(y, k), one_hot(y_trg, k)

    x_fake = G(x, c_org, c_trg)
    with frozen(D):
        loss_adv = g_adv_loss(D(x_fake, y, y_trg), lc.adv_type)
    loss_cyc = l1(G(x_fake, c_trg, c_org), x)
    loss = lc.lambda_adv * loss_adv + lc.lambda_cyc * loss_cyc
    logs = {"adv": loss_adv, "cyc": loss_cyc}
    return _with_identity(loss, logs, step, lc, lambda: l1(G(x, c_org, c_org), x))


@torch.no_grad()
def vc2_dev_losses(nets: Nets, batch: Batch, cfg: Any, aux: Mapping[str, nn.Module] | None = None
                   ) -> dict[str, float]:
    """Adversarial-free losses: ``cyc``, ``id``, the source judge's ``cls_real`` (not in the total) and
    ``total = λ_cyc·cyc`` (+ ``λ_id·id`` when identity is never switched off)."""
    del aux
    lc = _loss_cfg(cfg)
    G = nets["generator"]
    x, y, y_trg = batch["x"], batch["y"], batch["y_ref"]
    k = G.num_domains
    c_org, c_trg = one_hot(y, k), one_hot(y_trg, k)
    with eval_mode(G, nets["classifier"]):
        logs = {
            "cyc": float(l1(G(G(x, c_org, c_trg), c_trg, c_org), x)),
            "id": float(l1(G(x, c_org, c_org), x)),
            "cls_real": float(patch_ce(nets["classifier"](x), y)),  # how well the source judge works
        }
    logs["total"] = lc.lambda_cyc * logs["cyc"] + dev_id_weight(lc) * logs["id"]
    return logs
