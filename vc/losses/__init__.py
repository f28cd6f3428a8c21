"""Losses: adversarial objectives and R1 (:mod:`vc.losses.adversarial`) and the per-family step
losses (:mod:`vc.losses.stargan_v2`)."""

from vc.losses.adversarial import ADV_KINDS, d_adv_loss, d_fake_loss, d_real_loss, g_adv_loss, r1_penalty

__all__ = ["ADV_KINDS", "d_adv_loss", "d_fake_loss", "d_real_loss", "g_adv_loss", "r1_penalty"]
