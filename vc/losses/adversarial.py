"""Adversarial losses and the R1 penalty, computed in float32 whatever the autocast dtype.

``kind`` is ``loss.adv_type``: ``nonsat`` (the non-saturating logistic loss, written with softplus so
it never takes ``log(sigmoid)``), ``lsgan`` (least squares, targets 1 / 0) or ``hinge``.
Logits are ``(B,)`` or any shape; every loss is a mean.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vc.errors import ConfigError

ADV_KINDS = ("nonsat", "lsgan", "hinge")


def _check(kind: str) -> None:
    if kind not in ADV_KINDS:
        raise ConfigError(f"loss.adv_type: unknown adversarial loss {kind!r}; choose one of {', '.join(ADV_KINDS)}")


def d_real_loss(real_logits: torch.Tensor, kind: str = "nonsat") -> torch.Tensor:
    """Discriminator loss on real samples (low when the logits are high)."""
    _check(kind)
    r = real_logits.float()
    if kind == "nonsat":
        return F.softplus(-r).mean()  # = -log σ(r)
    if kind == "lsgan":
        return ((r - 1) ** 2).mean()
    return F.relu(1 - r).mean()


def d_fake_loss(fake_logits: torch.Tensor, kind: str = "nonsat") -> torch.Tensor:
    """Discriminator loss on generated samples (low when the logits are low)."""
    _check(kind)
    f = fake_logits.float()
    if kind == "nonsat":
        return F.softplus(f).mean()  # = -log(1 - σ(f))
    if kind == "lsgan":
        return (f**2).mean()
    return F.relu(1 + f).mean()


def d_adv_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, kind: str = "nonsat") -> torch.Tensor:
    """Discriminator loss: real part + fake part."""
    return d_real_loss(real_logits, kind) + d_fake_loss(fake_logits, kind)


def g_adv_loss(fake_logits: torch.Tensor, kind: str = "nonsat") -> torch.Tensor:
    """Generator loss (low when D scores the fakes as real)."""
    _check(kind)
    f = fake_logits.float()
    if kind == "nonsat":
        return F.softplus(-f).mean()
    if kind == "lsgan":
        return ((f - 1) ** 2).mean()
    return (-f).mean()


def r1_penalty(real_logits: torch.Tensor, x_real: torch.Tensor) -> torch.Tensor:
    """R1: ``0.5 · mean_b ‖∂ Σ D(x_real) / ∂x_b‖²``; ``x_real`` must require grad and ``real_logits``
    come from it. The graph is kept so the penalty trains D. Compute the logits outside autocast
    (the StarGAN v2 losses do) so the squared gradient is not underflowing in half precision."""
    (grad,) = torch.autograd.grad(real_logits.float().sum(), x_real, create_graph=True)
    return 0.5 * grad.float().pow(2).reshape(grad.shape[0], -1).sum(1).mean()
