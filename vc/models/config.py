"""Model settings (the ``model:`` section). Families are chosen by ``name`` from the registry."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ModelConfig:
    name: str = "stargan_v2"
    """Model family from the registry: ``stargan_v2`` (default), ``stargan_vc``, ``stargan_vc2``."""
    crop_frames: int = 0
    """N, frames per training crop. 0: 192 for mel features, 128 for WORLD."""

    # --- StarGAN v2 generator ---
    dim_in: int = 64
    """Channels after the first convolution; doubled at each downsampling up to ``max_conv_dim``."""
    max_conv_dim: int = 512
    n_down: int = 2
    """Encoder stages that halve both frequency and time (the decoder mirrors them)."""
    n_bottleneck: int = 2
    """Residual blocks at the bottleneck, in the encoder and (with AdaIN) the decoder each."""
    style_dim: int = 64
    latent_dim: int = 16
    mapping_hidden: int = 512
    mapping_layers: int = 4
    """Shared layers of the mapping network before the per-domain heads."""
    style_dim_in: int = 64
    """Base channels of the style encoder."""
    f0_condition: bool = True
    """Feed the source's normalised log-F0 contour to the generator as a second input channel."""

    # --- discriminator ---
    discriminator: str = "gated_patchgan"
    """``gated_patchgan`` (default) or ``resnet``."""
    disc_dim: int = 64
    disc_max_dim: int = 512
    disc_n_down: int = 3

    # --- F0 network used by the pitch-consistency loss (trained by the toolkit on pyworld F0) ---
    f0_net_dim: int = 64
    f0_net_steps: int = 2000
    """Steps to pre-train the F0 network before the GAN; 0 disables the pitch-consistency loss."""

    def crop_for(self, feature_kind: str) -> int:
        if self.crop_frames:
            return self.crop_frames
        return 192 if feature_kind == "mel" else 128
