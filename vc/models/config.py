"""Model settings (the ``model:`` section). Families are chosen by ``name`` from the registry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass
class ModelConfig:
    name: str = "stargan_v2"
    """Model family from the registry: ``stargan_v2`` (default), ``stargan_vc``, ``stargan_vc2``."""
    crop_frames: int = 0
    """N, frames per training crop. 0: 192 for mel features, 128 for WORLD."""

    # --- generator (dim_in, max_conv_dim, n_down: every family; n_bottleneck: stargan_v2, stargan_vc2) ---
    dim_in: int = 64
    """Channels after the first convolution; doubled at each downsampling up to ``max_conv_dim``."""
    max_conv_dim: int = 512
    """Channel cap of the generator; StarGAN-VC2 also uses it as the width of its 1-D residual blocks."""
    n_down: int = 2
    """Encoder stages that halve both frequency and time (the decoder mirrors them)."""
    n_bottleneck: int = 2
    """Residual blocks at the bottleneck: StarGAN v2, in the encoder and (with AdaIN) the decoder each;
    StarGAN-VC2, its 1-D residual blocks with conditional instance norm (paper: 9)."""
    vc_bottleneck: int = 5
    """StarGAN-VC: channels of the generator's bottleneck, where the encoder has collapsed the feature
    rows to one (Kameoka et al. 2018: 5)."""
    style_dim: int = 64
    latent_dim: int = 16
    mapping_hidden: int = 512
    mapping_layers: int = 4
    """Shared layers of the mapping network before the per-domain heads."""
    style_dim_in: int = 64
    """Base channels of the style encoder."""
    style_n_down: int = 4
    """Style-encoder stages that halve frequency and time before global pooling."""
    style_head: Literal["domain", "shared"] = "domain"
    """StarGAN v2's style encoder: ``domain`` (the paper) reads a clip's style through the head of a
    named training domain; ``shared`` through one domain-agnostic head, so a style can be read off a
    clip of any speaker, one never trained on included (any-to-any conversion, docs/any_to_any.md)."""
    f0_condition: bool = True
    """Condition the generator on the source's normalised log-F0 contour and its voiced mask: two extra
    input channels broadcast over Q, and again at the bottleneck (pooled to its frame rate)."""
    generator_base: Literal["none", "identity", "statistical", "warped", "knn"] = "none"
    """StarGAN v2: what the generator's output is built on. ``none``: it predicts the converted features
    outright (the paper). ``identity``: a correction added to the source features. ``statistical``: a
    correction added to the statistical conversion of the source (each feature row's mean and standard
    deviation moved from the source domain's to the target's, ``vc/models/moments.py``), so training
    starts near the classic baseline's quality (the correction's last layer starts at a tenth of its usual
    initial scale). ``warped`` (WORLD features only): the same, with each centred frame first warped
    along frequency by the ratio that best maps the source domain's mean envelope onto the target's,
    so the formants move too (``vc/features/warp.py``; docs/quality.md, run 7). ``knn``: the warped base
    (the statistical one on mel features) plus a correction towards each frame's nearest frames of the
    target speaker's own training speech, smoothed along time (``vc/models/knn.py``, settings ``knn_*``)."""
    knn_k: int = 4
    """``generator_base: knn``: pool frames averaged per frame."""
    knn_context: int = 8
    """``generator_base: knn``: frames either side whose distances add to a frame's (matching within the phone)."""
    knn_smooth: float = 3.0
    """``generator_base: knn``: standard deviation, in frames, of the Gaussian that smooths the correction
    along time (0: none; unsmoothed per-frame matches sound rough)."""
    knn_iters: int = 1
    """``generator_base: knn``: matching passes. Each pass matches the base as corrected so far and adds
    its smoothed residual, closing more of the gap to the target's frames that the smoothing of the
    pass before left (docs/quality.md, item 15). Each pass costs one more search of the pool."""
    knn_level: float = 0.0
    """``generator_base: knn``: share (0-1) of the level part of the correction applied (WORLD's c0 row;
    on mel each frame's mean), only where it lowers a frame. 0 keeps the source's level contour frame
    by frame; 1 lowers each frame louder than its matched target frames to their level (smoothed like
    the rest of the correction) and leaves quieter frames as they are: raising them cost naturalness.
    Applied once, after the ``knn_iters`` passes, from the last pass's matches. The level contour is
    part of the voice: on word clips the source's kept male-to-female conversions sounding like another
    speaker (docs/quality.md, items 16 and 17)."""
    knn_pool_frames: int = 20000
    """``generator_base: knn``: training frames kept per domain (in the checkpoint) to match against."""
    knn_intonation: float = 0.0
    """``generator_base: knn``: share (0-1) of the target speaker's own pitch movement in the converted F0.
    The converter mixes the z-scored log-F0 of each frame's matched target frames (smoothed) into the
    source's before the log-Gaussian transform: 0 keeps the source's contour (log-Gaussian only), 1
    replaces it (docs/quality.md, item 11). Not applied by streaming conversion."""

    # --- discriminator (disc_dim, disc_max_dim, disc_n_down: every family's D; stargan_vc's classifier too) ---
    discriminator: str = "gated_patchgan"
    """StarGAN v2's discriminator: ``gated_patchgan`` (default) or ``resnet``. The StarGAN-VC
    families have their own (see docs/families.md) and do not read this."""
    disc_dim: int = 64
    disc_max_dim: int = 512
    disc_n_down: int = 3
    disc_projection: bool = False
    """StarGAN v2: give the discriminator a style-conditioned real/fake output (projection
    discriminator: a per-patch logit plus the inner product of the patch features with a projection
    of the style code), trained with ``loss.lambda_proj``, so it judges whether a clip sounds like a
    given style, not only like a training domain (docs/any_to_any.md)."""
    vc2_classifier_dim: int = 32
    """StarGAN-VC2: channels of the small domain classifier trained on real speech beside the GAN to
    judge the source domain at conversion when none is given (its depth is ``disc_n_down``)."""

    # --- F0 network used by the pitch-consistency loss (trained by the toolkit on pyworld F0) ---
    f0_net_dim: int = 64
    f0_net_steps: int = 2000
    """Steps to pre-train the F0 network before the GAN; 0 disables the pitch-consistency loss."""
    f0_net_lr: float = 1e-3
    """Adam learning rate of the F0 network's pre-training (a plain regression, so much larger than the GAN's)."""

    def __post_init__(self) -> None:
        positive = ("dim_in", "max_conv_dim", "style_dim", "latent_dim", "mapping_hidden", "mapping_layers",
                    "style_dim_in", "disc_dim", "disc_max_dim", "f0_net_dim", "vc_bottleneck",
                    "vc2_classifier_dim", "knn_k", "knn_iters", "knn_pool_frames")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"model.{name} must be positive, got {getattr(self, name)}")
        if self.knn_smooth < 0:
            raise ValueError(f"model.knn_smooth must be >= 0, got {self.knn_smooth}")
        for name in ("knn_intonation", "knn_level"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"model.{name} must be between 0 and 1, got {getattr(self, name)}")
        for name in ("n_down", "n_bottleneck", "style_n_down", "disc_n_down", "f0_net_steps", "crop_frames",
                     "knn_context"):
            if getattr(self, name) < 0:
                raise ValueError(f"model.{name} must be >= 0, got {getattr(self, name)}")

    def crop_for(self, feature_kind: str) -> int:
        if self.crop_frames:
            return self.crop_frames
        return 192 if feature_kind == "mel" else 128
