"""Building blocks shared by the StarGAN-family networks.

Every block works on feature images ``(B, C, Q, N)`` (channels, feature rows, frames).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

LRELU_SLOPE = 0.2


def channel_plan(base: int, top: int, stages: int) -> list[int]:
    """Channels of a stem and ``stages`` downsampling stages: ``base`` doubled per stage, capped at ``top``."""
    dims = [base]
    for _ in range(stages):
        dims.append(min(dims[-1] * 2, top))
    return dims


def padded_size(size: int, multiple: int) -> int:
    """``size`` rounded up to a multiple of ``multiple`` (what :func:`pad_to_multiple` pads to)."""
    return -(-size // multiple) * multiple


def pad_to_multiple(x: torch.Tensor, multiple: int, minimum: int = 1) -> torch.Tensor:
    """Pad the last two dims of ``x (B, C, Q, N)`` at the end up to a multiple of ``multiple``
    (and at least ``minimum``), repeating the edge rows/frames.

    Replicate padding works for any size (reflect needs the pad to be shorter than the input) and
    keeps the padded area statistically close to the signal, so instance norm is barely affected.
    The caller crops the output back with ``x[..., :Q, :N]``.
    """
    q, n = x.shape[-2:]
    q_to = max(minimum, -(-q // multiple) * multiple)
    n_to = max(minimum, -(-n // multiple) * multiple)
    if q_to == q and n_to == n:
        return x
    return F.pad(x, (0, n_to - n, 0, q_to - q), mode="replicate")


class ResBlk(nn.Module):
    """Pre-activation residual block (StarGAN v2): [IN] → LReLU → conv → [pool] → [IN] → LReLU → conv.

    ``downsample`` halves both Q and N with 2×2 average pooling (inputs must have even sizes or be
    at least 2; odd trailing rows/frames are dropped by the pool). The sum is divided by √2 to keep
    the variance of the residual stream constant through the stack.
    """

    def __init__(self, dim_in: int, dim_out: int, normalize: bool = False, downsample: bool = False):
        super().__init__()
        self.normalize = normalize
        self.downsample = downsample
        self.conv1 = nn.Conv2d(dim_in, dim_in, 3, 1, 1)
        self.conv2 = nn.Conv2d(dim_in, dim_out, 3, 1, 1)
        if normalize:
            self.norm1 = nn.InstanceNorm2d(dim_in, affine=True)
            self.norm2 = nn.InstanceNorm2d(dim_in, affine=True)
        self.learned_sc = dim_in != dim_out
        if self.learned_sc:
            self.conv1x1 = nn.Conv2d(dim_in, dim_out, 1, 1, 0, bias=False)

    def _shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if self.learned_sc:
            x = self.conv1x1(x)
        if self.downsample:
            x = F.avg_pool2d(x, 2)
        return x

    def _residual(self, x: torch.Tensor) -> torch.Tensor:
        if self.normalize:
            x = self.norm1(x)
        x = self.conv1(F.leaky_relu(x, LRELU_SLOPE))
        if self.downsample:
            x = F.avg_pool2d(x, 2)
        if self.normalize:
            x = self.norm2(x)
        return self.conv2(F.leaky_relu(x, LRELU_SLOPE))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C_in, Q, N) -> (B, C_out, Q', N')`` with Q', N' halved when downsampling."""
        return (self._shortcut(x) + self._residual(x)) / math.sqrt(2)


class AdaIN(nn.Module):
    """Adaptive instance norm: ``(1 + γ(s)) · IN(x) + β(s)`` with γ, β from one linear on the style."""

    def __init__(self, style_dim: int, num_features: int):
        super().__init__()
        self.norm = nn.InstanceNorm2d(num_features, affine=False)
        self.fc = nn.Linear(style_dim, num_features * 2)

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """``x (B, C, Q, N)``, ``s (B, style_dim)`` -> ``(B, C, Q, N)``."""
        gamma, beta = self.fc(s)[:, :, None, None].chunk(2, dim=1)
        return (1 + gamma) * self.norm(x) + beta


class AdainResBlk(nn.Module):
    """Residual block whose norms are AdaIN on the style; ``upsample`` doubles Q and N (nearest)."""

    def __init__(self, dim_in: int, dim_out: int, style_dim: int, upsample: bool = False):
        super().__init__()
        self.upsample = upsample
        self.conv1 = nn.Conv2d(dim_in, dim_out, 3, 1, 1)
        self.conv2 = nn.Conv2d(dim_out, dim_out, 3, 1, 1)
        self.norm1 = AdaIN(style_dim, dim_in)
        self.norm2 = AdaIN(style_dim, dim_out)
        self.learned_sc = dim_in != dim_out
        if self.learned_sc:
            self.conv1x1 = nn.Conv2d(dim_in, dim_out, 1, 1, 0, bias=False)

    def _shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        if self.learned_sc:
            x = self.conv1x1(x)
        return x

    def _residual(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        x = F.leaky_relu(self.norm1(x, s), LRELU_SLOPE)
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        x = self.conv1(x)
        x = F.leaky_relu(self.norm2(x, s), LRELU_SLOPE)
        return self.conv2(x)

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """``x (B, C_in, Q, N)``, ``s (B, style_dim)`` -> ``(B, C_out, Q', N')`` (doubled if upsampling)."""
        return (self._shortcut(x) + self._residual(x, s)) / math.sqrt(2)


def _pair(v: int | tuple[int, int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


class GatedConv2d(nn.Module):
    """Gated (GLU) convolution: one conv gives 2C channels ``a, b``; the output is ``a · σ(b)``.

    Options used by the StarGAN-VC families (the defaults give the plain block above):

    * ``norm``: ``batch`` or ``instance`` (affine) normalisation of the 2C channels before the gate;
    * ``transpose``: a transposed convolution (upsampling by ``stride``);
    * ``upscale``: pixel shuffle by this factor after the conv (StarGAN-VC2's upsampling), the conv
      then gives ``2C · upscale²`` channels;
    * ``padding``: default ``kernel // 2`` per axis ("same" for odd kernels at stride 1).

    Kernel, stride and padding are ``int`` or ``(rows, frames)``.
    """

    def __init__(
        self,
        dim_in: int,
        dim_out: int,
        kernel_size: int | tuple[int, int] = 3,
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] | None = None,
        norm: str = "none",
        transpose: bool = False,
        upscale: int = 1,
    ):
        super().__init__()
        k = _pair(kernel_size)
        pad = (k[0] // 2, k[1] // 2) if padding is None else _pair(padding)
        conv = nn.ConvTranspose2d if transpose else nn.Conv2d
        self.conv = conv(dim_in, dim_out * 2 * upscale**2, k, _pair(stride), pad)
        self.shuffle = nn.PixelShuffle(upscale) if upscale > 1 else None
        if norm == "batch":
            self.norm = nn.BatchNorm2d(dim_out * 2)
        elif norm == "instance":
            self.norm = nn.InstanceNorm2d(dim_out * 2, affine=True)
        elif norm != "none":
            raise ValueError(f"GatedConv2d: unknown norm {norm!r} (none, batch, instance)")
        else:
            self.norm = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C_in, Q, N) -> (B, C_out, Q', N')``; with the default padding and an odd kernel,
        ``Q' = ⌈Q/stride⌉`` (times ``upscale``), likewise N."""
        h = self.conv(x)
        if self.shuffle is not None:
            h = self.shuffle(h)
        if self.norm is not None:
            h = self.norm(h)
        return F.glu(h, dim=1)


def cat_code(h: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
    """Append a domain code ``(B, K)`` to ``h (B, C, Q, N)`` as K constant maps: ``(B, C + K, Q, N)``.

    The one-hot conditioning of StarGAN / StarGAN-VC (the code replicated over every position).
    """
    b, _, q, n = h.shape
    return torch.cat([h, code.to(h.dtype)[:, :, None, None].expand(b, code.shape[1], q, n)], dim=1)


class DomainHeads(nn.Module):
    """One small head per domain over a shared feature vector; ``forward(h, y)`` picks head ``y``.

    All heads run on the whole batch (K is small) so the batch never has to be split by domain.
    """

    def __init__(self, dim_in: int, dim_out: int, num_domains: int, hidden: int = 0):
        super().__init__()

        def head() -> nn.Module:
            if hidden:
                return nn.Sequential(nn.Linear(dim_in, hidden), nn.ReLU(), nn.Linear(hidden, dim_out))
            return nn.Linear(dim_in, dim_out)

        self.heads = nn.ModuleList(head() for _ in range(num_domains))

    def forward(self, h: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``h (B, dim_in)``, ``y (B,)`` long -> ``(B, dim_out)``."""
        out = torch.stack([head(h) for head in self.heads], dim=1)  # (B, K, dim_out)
        return out[torch.arange(h.shape[0], device=h.device), y.to(h.device).long()]
