"""Training and loss settings (the ``train:`` and ``loss:`` sections)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass
class LossConfig:
    adv_type: Literal["nonsat", "lsgan", "hinge"] = "nonsat"
    lambda_adv: float = 1.0
    lambda_r1: float = 1.0
    """R1 penalty on real samples (gradient of D w.r.t. its input)."""
    lambda_sty: float = 1.0
    lambda_ds: float = 1.0
    ds_decay_steps: int = 100000
    """lambda_ds decays linearly to 0 over this many steps."""
    lambda_cyc: float = 5.0
    lambda_norm: float = 1.0
    """Norm consistency: frame energy of the conversion follows the source."""
    lambda_f0: float = 5.0
    """Pitch consistency through the toolkit's own F0 network (0 disables)."""
    lambda_adv_cls: float = 0.1
    """Adversarial source classifier: D learns which domain a fake came from, G learns to hide it."""
    adv_cls_start_step: int = 20000
    lambda_cls_real: float = 0.0
    """StarGAN v2: StarGAN's domain classification loss. D's classifier head learns the domain of real
    speech and G makes its conversions classified as the target, from the first step (0: off, as in
    StarGAN v2-VC)."""
    adv_per_patch: bool = True
    """StarGAN v2: the adversarial losses judge each patch of the discriminator's last feature map
    (PatchGAN: every patch must look real) instead of the clip's patch-averaged logit."""
    lambda_proj: float = 1.0
    """StarGAN v2 with ``model.disc_projection``: weight of the style-conditioned adversarial terms
    (real speech of the target domain paired with a style read off another of its clips, against
    each conversion paired with the style it was made with)."""
    lambda_prematch: float = 0.0
    """StarGAN v2 on the kNN base (``model.generator_base: knn``): self-reconstruction through the base.
    Each training clip gets the kNN correction towards its *own* domain with its own utterance left out
    of the pool, and the generator (with a style of that domain) must give back the real clip (L1). The
    base's artefacts (frames averaged from elsewhere) are then ones it has learnt to undo, with real
    speech of the speaker as the answer: the prematched training of kNN-VC's vocoder (Baas et al. 2023)
    applied to the generator. 0: off."""
    split_branches: bool = False
    """StarGAN v2: convert half the batch with latent-guided styles and the other half with
    reference-guided ones, instead of every clip through both branches: half the generator compute
    per step (for CPU training)."""
    # --- StarGAN-VC / VC2 families (docs/families.md lists the fields each family reads) ---
    lambda_cls: float = 1.0
    """StarGAN-VC: domain classification, of real speech for the classifier and of converted speech for
    the generator (Kameoka et al. 2018: 1)."""
    lambda_id: float = 5.0
    """StarGAN-VC / VC2: identity mapping ``‖G(x, c→c) − x‖₁`` (StarGAN-VC2: 5)."""
    id_stop_step: int = 10000
    """Identity-mapping loss is switched off from this step on (StarGAN-VC2: 10k); 0 keeps it on for the
    whole run."""


@dataclass
class TrainConfig:
    out_dir: str = "exp/default"
    seed: int = 1234
    device: Literal["auto", "cpu", "cuda"] = "auto"
    batch_size: int = 8
    """Per process; a run on N GPUs sees N times as many samples per step."""
    max_steps: int = 100000
    max_minutes: float = 0.0
    """Stop (and checkpoint) after this wall-clock time; 0 means no limit."""
    lr: float = 1e-4
    warmup_steps: int = 0
    """Linear learning-rate warm-up at the start of training."""
    lr_d: float = 1e-4
    lr_f: float = 1e-6
    """Mapping-network learning rate (StarGAN v2 uses a much smaller one)."""
    beta1: float = 0.0
    beta2: float = 0.99
    weight_decay: float = 1e-4
    grad_clip: float = 1.0
    """Max gradient norm per network; 0 disables clipping."""
    ema_beta: float = 0.999
    amp: Literal["bf16", "fp16", "none"] = "bf16"
    """Mixed precision on CUDA (ignored on CPU)."""
    max_bad_steps: int = 10
    """Stop after this many consecutive steps with a non-finite loss."""
    num_workers: int = 0
    log_every: int = 10
    eval_every: int = 500
    save_every: int = 1000
    sample_every: int = 1000
    keep_last: int = 3
    """Newest checkpoints kept (the best by dev loss is kept as well)."""
