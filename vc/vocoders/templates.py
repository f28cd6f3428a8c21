"""parallel-wavegan YAML for ``vc-train-vocoder``: a feature section generated from our FeatureConfig
and model sections kept here as code.

The model sections follow parallel-wavegan's published recipes (``egs/vctk/voc1/conf``:
``hifigan.v1``, ``parallel_wavegan.v1``, ``multi_band_melgan.v2``; MelGAN with the multi-scale
discriminator and feature matching of the MelGAN paper) for size ``paper``, and shrink channels and
layers for size ``cpu``. What the recipes tie to one corpus is derived here instead:

* upsampling scales from the hop (:func:`upsample_scales`), since their product must equal it;
* the generator's input channels and the mel loss's STFT from the features;
* step counts (discriminator start, learning-rate milestones) as the recipe's fraction of its
  training length, applied to ``vocoder.train_steps``.

The feature keys (``sampling_rate`` ... ``format``) are never taken from a template or an override.
"""

from __future__ import annotations

import copy
import math
from typing import Any

from vc.errors import ConfigError
from vc.features.config import FeatureConfig

GENERATORS = ("hifigan", "parallel_wavegan", "melgan", "multiband_melgan")
SIZES = ("paper", "cpu")
MAX_SCALE = 8
"""Largest upsampling factor per stage (transposed-conv kernels are twice the factor)."""
FEATURE_KEYS = (
    "sampling_rate", "fft_size", "hop_size", "win_length", "window", "num_mels", "fmin", "fmax",
    "log_base", "global_gain_scale", "trim_silence", "format",
)  # fmt: skip


def _is_prime_power(n: int) -> bool:
    p = next(d for d in range(2, n + 1) if n % d == 0)
    while n % p == 0:
        n //= p
    return n == 1


def _factorisations(n: int, stages: int, max_factor: int, at_most: int | None = None):
    """Non-increasing tuples of ``stages`` factors in ``[2, max_factor]`` whose product is ``n``."""
    at_most = max_factor if at_most is None else at_most
    if stages == 1:
        if 2 <= n <= at_most:
            yield (n,)
        return
    for f in range(min(at_most, n), 1, -1):
        if n % f == 0:
            for rest in _factorisations(n // f, stages - 1, max_factor, f):
                yield (f,) + rest


def upsample_scales(total: int, stages: int = 4) -> list[int]:
    """Per-stage upsampling factors whose product is ``total`` (the hop, or hop / subbands).

    Prefers ``stages`` factors, each a prime power of at most 8, and among those the one that
    upsamples most in the first stages (as HiFi-GAN V1 does): 300 -> 5·5·4·3, 256 -> 8·8·2·2,
    200 -> 5·5·4·2, 240 -> 8·5·3·2. Falls back to fewer or more stages, then to larger factors
    (a hop with a prime factor above 8).

    Raises:
        ConfigError: ``total`` is below 2.
    """
    if total < 2:
        raise ConfigError(f"cannot build an upsampling network for a hop of {total} sample(s)")
    largest_prime = max(p for p in range(2, total + 1) if total % p == 0 and _is_prime_power(p))
    # Closest stage counts first: 4, 3, 5, 2, 6, ...
    tries = sorted(range(1, 12), key=lambda s: (abs(s - stages), s))
    for max_factor in (MAX_SCALE, max(MAX_SCALE, largest_prime), total):
        for n_stages in tries:
            found = list(_factorisations(total, n_stages, max_factor))
            if found:
                # Prime-power factors first, then the largest early factors.
                best = max(found, key=lambda fs: (all(_is_prime_power(f) for f in fs), fs))
                return list(best)
    return [total]  # unreachable: a single stage always fits the last max_factor


def _steps(fraction: float, train_steps: int) -> int:
    return max(1, int(round(fraction * train_steps)))


def feature_section(features: FeatureConfig) -> dict[str, Any]:
    """parallel-wavegan's feature keys, generated from ``features`` (mel only)."""
    if features.kind != "mel":
        raise ConfigError(
            "parallel-wavegan vocoders take log-mel features; this config has features.kind: "
            f"{features.kind} (use the world vocoder, or set features.kind: mel and re-run vc-prep)"
        )
    # parallel-wavegan writes the natural log as ``log_base: null``.
    log_base = None if math.isclose(features.log_base, math.e) else float(features.log_base)
    return {
        "sampling_rate": features.sample_rate,
        "fft_size": features.n_fft,
        "hop_size": features.hop_size,
        "win_length": features.win_length,
        "window": features.window,
        "num_mels": features.num_mels,
        "fmin": float(features.fmin),
        "fmax": float(features.fmax),
        "log_base": log_base,
        "global_gain_scale": 1.0,
        "trim_silence": False,
        "format": "hdf5",
    }


def _adam(lr: float, **extra: Any) -> dict[str, Any]:
    return {"lr": lr, **extra}


def _hifigan(features: FeatureConfig, size: str, steps: int) -> dict[str, Any]:
    scales = upsample_scales(features.hop_size, 4)
    paper = size == "paper"
    milestones = [_steps(f, steps) for f in (0.08, 0.16, 0.24, 0.32)]  # 200k.. of the recipe's 2.5M
    lr_schedule = {"gamma": 0.5, "milestones": milestones}
    return {
        "generator_type": "HiFiGANGenerator",
        "generator_params": {
            "in_channels": features.num_mels,
            "out_channels": 1,
            "channels": 512 if paper else 128,
            "kernel_size": 7,
            "upsample_scales": scales,
            "upsample_kernel_sizes": [2 * s for s in scales],
            # cpu: HiFi-GAN V3's residual blocks (fewer, shorter dilation stacks, no extra convs).
            "resblock_kernel_sizes": [3, 7, 11] if paper else [3, 5, 7],
            "resblock_dilations": [[1, 3, 5]] * 3 if paper else [[1, 2], [2, 6], [3, 12]],
            "use_additional_convs": paper,
            "bias": True,
            "nonlinear_activation": "LeakyReLU",
            "nonlinear_activation_params": {"negative_slope": 0.1},
            "use_weight_norm": True,
        },
        "discriminator_type": "HiFiGANMultiScaleMultiPeriodDiscriminator",
        "discriminator_params": {
            "scales": 3,
            "scale_downsample_pooling": "AvgPool1d",
            "scale_downsample_pooling_params": {"kernel_size": 4, "stride": 2, "padding": 2},
            "scale_discriminator_params": {
                "in_channels": 1,
                "out_channels": 1,
                "kernel_sizes": [15, 41, 5, 3],
                "channels": 128 if paper else 32,
                "max_downsample_channels": 1024 if paper else 256,
                "max_groups": 16,
                "bias": True,
                "downsample_scales": [4, 4, 4, 4, 1],
                "nonlinear_activation": "LeakyReLU",
                "nonlinear_activation_params": {"negative_slope": 0.1},
            },
            "follow_official_norm": True,
            "periods": [2, 3, 5, 7, 11],
            "period_discriminator_params": {
                "in_channels": 1,
                "out_channels": 1,
                "kernel_sizes": [5, 3],
                "channels": 32 if paper else 16,
                "downsample_scales": [3, 3, 3, 3, 1],
                "max_downsample_channels": 1024 if paper else 256,
                "bias": True,
                "nonlinear_activation": "LeakyReLU",
                "nonlinear_activation_params": {"negative_slope": 0.1},
                "use_weight_norm": True,
                "use_spectral_norm": False,
            },
        },
        "use_stft_loss": False,
        "use_mel_loss": True,
        # HiFi-GAN's L1 loss on the natural-log mel of the full band, on our STFT grid.
        "mel_loss_params": {
            "fs": features.sample_rate,
            "fft_size": features.n_fft,
            "hop_size": features.hop_size,
            "win_length": features.win_length,
            "window": features.window,
            "num_mels": features.num_mels,
            "fmin": 0,
            "fmax": features.sample_rate // 2,
            "log_base": None,
        },
        "generator_adv_loss_params": {"average_by_discriminators": False},
        "discriminator_adv_loss_params": {"average_by_discriminators": False},
        "use_feat_match_loss": True,
        "feat_match_loss_params": {
            "average_by_discriminators": False,
            "average_by_layers": False,
            "include_final_outputs": False,
        },
        "lambda_aux": 45.0,
        "lambda_adv": 1.0,
        "lambda_feat_match": 2.0,
        "generator_optimizer_type": "Adam",
        "generator_optimizer_params": _adam(2.0e-4, betas=[0.5, 0.9], weight_decay=0.0),
        "generator_scheduler_type": "MultiStepLR",
        "generator_scheduler_params": copy.deepcopy(lr_schedule),
        "generator_grad_norm": -1,
        "discriminator_optimizer_type": "Adam",
        "discriminator_optimizer_params": _adam(2.0e-4, betas=[0.5, 0.9], weight_decay=0.0),
        "discriminator_scheduler_type": "MultiStepLR",
        "discriminator_scheduler_params": copy.deepcopy(lr_schedule),
        "discriminator_grad_norm": -1,
        "generator_train_start_steps": 1,
        "discriminator_train_start_steps": 0,
    }


_STFT_LOSS = {
    "fft_sizes": [1024, 2048, 512],
    "hop_sizes": [120, 240, 50],
    "win_lengths": [600, 1200, 240],
    "window": "hann_window",
}


def _parallel_wavegan(features: FeatureConfig, size: str, steps: int) -> dict[str, Any]:
    paper = size == "paper"
    step_size = _steps(0.2, steps)  # 200k of the recipe's 1M
    return {
        "generator_type": "ParallelWaveGANGenerator",
        "generator_params": {
            "in_channels": 1,
            "out_channels": 1,
            "kernel_size": 3,
            "layers": 30 if paper else 10,
            "stacks": 3 if paper else 1,
            "residual_channels": 64 if paper else 32,
            "gate_channels": 128 if paper else 64,
            "skip_channels": 64 if paper else 32,
            "aux_channels": features.num_mels,
            "aux_context_window": 2,
            "dropout": 0.0,
            "use_weight_norm": True,
            "upsample_net": "ConvInUpsampleNetwork",
            "upsample_params": {"upsample_scales": upsample_scales(features.hop_size, 4)},
        },
        "discriminator_type": "ParallelWaveGANDiscriminator",
        "discriminator_params": {
            "in_channels": 1,
            "out_channels": 1,
            "kernel_size": 3,
            "layers": 10 if paper else 6,
            "conv_channels": 64 if paper else 32,
            "bias": True,
            "use_weight_norm": True,
            "nonlinear_activation": "LeakyReLU",
            "nonlinear_activation_params": {"negative_slope": 0.2},
        },
        "stft_loss_params": copy.deepcopy(_STFT_LOSS),
        "lambda_adv": 4.0,
        **_radam_step_lr(step_size),
        "discriminator_train_start_steps": _steps(0.1, steps),  # 100k of 1M
    }


def _radam_step_lr(step_size: int) -> dict[str, Any]:
    """RAdam for G (1e-4) and D (5e-5), halved every ``step_size`` steps: the Parallel WaveGAN and
    MelGAN recipes' optimisation."""
    return {
        "generator_optimizer_type": "RAdam",
        "generator_optimizer_params": _adam(1.0e-4, eps=1.0e-6, weight_decay=0.0),
        "generator_scheduler_type": "StepLR",
        "generator_scheduler_params": {"step_size": step_size, "gamma": 0.5},
        "generator_grad_norm": 10,
        "discriminator_optimizer_type": "RAdam",
        "discriminator_optimizer_params": _adam(5.0e-5, eps=1.0e-6, weight_decay=0.0),
        "discriminator_scheduler_type": "StepLR",
        "discriminator_scheduler_params": {"step_size": step_size, "gamma": 0.5},
        "discriminator_grad_norm": 1,
    }


def _melgan_discriminator(paper: bool, downsample_scales: list[int], max_channels: int) -> dict[str, Any]:
    return {
        "in_channels": 1,
        "out_channels": 1,
        "scales": 3,
        "downsample_pooling": "AvgPool1d",
        "downsample_pooling_params": {"kernel_size": 4, "stride": 2, "padding": 1, "count_include_pad": False},
        "kernel_sizes": [5, 3],
        "channels": 16,
        "max_downsample_channels": max_channels if paper else 256,
        "downsample_scales": downsample_scales,
        "nonlinear_activation": "LeakyReLU",
        "nonlinear_activation_params": {"negative_slope": 0.2},
        "use_weight_norm": True,
    }


def melgan_channels(base: int, scales: list[int]) -> int:
    """MelGAN halves its channels at every upsampling stage and needs at least prod(scales) of them
    at the input: ``base``, raised where the hop demands it to a multiple of ``2**len(scales)``."""
    unit = 2 ** len(scales)
    return max(base, -(-int(math.prod(scales)) // unit) * unit)


def _melgan(features: FeatureConfig, size: str, steps: int) -> dict[str, Any]:
    paper = size == "paper"
    scales = upsample_scales(features.hop_size, 4)
    step_size = _steps(0.5, steps)  # 200k of the recipe's 400k
    return {
        "generator_type": "MelGANGenerator",
        "generator_params": {
            "in_channels": features.num_mels,
            "out_channels": 1,
            "kernel_size": 7,
            "channels": melgan_channels(512 if paper else 128, scales),
            "upsample_scales": scales,
            "stack_kernel_size": 3,
            "stacks": 3 if paper else 2,
            "use_weight_norm": True,
            "use_causal_conv": False,
        },
        "discriminator_type": "MelGANMultiScaleDiscriminator",
        "discriminator_params": _melgan_discriminator(paper, [4, 4, 4, 4], 1024),
        "stft_loss_params": copy.deepcopy(_STFT_LOSS),
        "use_feat_match_loss": True,
        "lambda_feat_match": 25.0,
        "lambda_adv": 4.0,
        **_radam_step_lr(step_size),
        "discriminator_train_start_steps": _steps(0.25, steps),  # 100k of 400k
    }


SUBBANDS = 4


def _multiband_melgan(features: FeatureConfig, size: str, steps: int) -> dict[str, Any]:
    if features.hop_size % SUBBANDS:
        raise ConfigError(
            f"multiband_melgan splits the audio into {SUBBANDS} bands, so features.hop_size must be a "
            f"multiple of {SUBBANDS} (it is {features.hop_size}); choose another vocoder.generator"
        )
    paper = size == "paper"
    scales = upsample_scales(features.hop_size // SUBBANDS, 3)
    milestones = [_steps(f / 10, steps) for f in range(1, 7)]  # 100k..600k of the recipe's 1M
    lr_schedule = {"gamma": 0.5, "milestones": milestones}
    return {
        "generator_type": "MelGANGenerator",
        "generator_params": {
            "in_channels": features.num_mels,
            "out_channels": SUBBANDS,
            "kernel_size": 7,
            "channels": melgan_channels(384 if paper else 128, scales),
            "upsample_scales": scales,
            "stack_kernel_size": 3,
            "stacks": 4 if paper else 2,
            "use_weight_norm": True,
            "use_causal_conv": False,
        },
        "discriminator_type": "MelGANMultiScaleDiscriminator",
        "discriminator_params": _melgan_discriminator(paper, [4, 4, 4], 512),
        "stft_loss_params": copy.deepcopy(_STFT_LOSS),
        "use_subband_stft_loss": True,
        "subband_stft_loss_params": {
            "fft_sizes": [384, 683, 171],
            "hop_sizes": [30, 60, 10],
            "win_lengths": [150, 300, 60],
            "window": "hann_window",
        },
        "use_feat_match_loss": False,
        "lambda_adv": 2.5,
        "generator_optimizer_type": "Adam",
        "generator_optimizer_params": _adam(1.0e-3, eps=1.0e-7, weight_decay=0.0, amsgrad=True),
        "generator_grad_norm": -1,
        "generator_scheduler_type": "MultiStepLR",
        "generator_scheduler_params": copy.deepcopy(lr_schedule),
        "discriminator_optimizer_type": "Adam",
        "discriminator_optimizer_params": _adam(1.0e-3, eps=1.0e-7, weight_decay=0.0, amsgrad=True),
        "discriminator_grad_norm": -1,
        "discriminator_scheduler_type": "MultiStepLR",
        "discriminator_scheduler_params": copy.deepcopy(lr_schedule),
        "discriminator_train_start_steps": _steps(0.2, steps),  # 200k of 1M
    }


_BUILDERS = {
    "hifigan": _hifigan,
    "parallel_wavegan": _parallel_wavegan,
    "melgan": _melgan,
    "multiband_melgan": _multiband_melgan,
}


def model_section(generator: str, size: str, features: FeatureConfig, train_steps: int) -> dict[str, Any]:
    """Generator, discriminator, loss, optimiser and scheduler keys for one generator type.

    Raises:
        ConfigError: unknown generator or size.
    """
    if generator not in _BUILDERS:
        raise ConfigError(f"vocoder.generator: unknown {generator!r}; valid: {', '.join(GENERATORS)}")
    if size not in SIZES:
        raise ConfigError(f"vocoder.size: unknown {size!r}; valid: {', '.join(SIZES)}")
    return _BUILDERS[generator](features, size, train_steps)


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``base`` with ``extra`` merged in; nested mappings merge, anything else replaces."""
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out
