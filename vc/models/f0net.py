"""The toolkit's own F0 network, for the pitch-consistency loss.

StarGAN v2-VC borrows a pretrained JDC pitch extractor; here a small CNN is trained on the prepared
corpus itself (labels: pyworld F0 from the feature cache), so it always matches the feature
settings. It reads a normalised feature image ``(B, 1, Q, N)`` and predicts, per frame, the
normalised log-F0 (the dataset's ``f0n``: log-F0 z-scored per domain) and a voicing logit.

The training loop calls :func:`train_f0_net` before the GAN (when ``model.f0_net_steps > 0`` and
``loss.lambda_f0 > 0``), freezes the result and passes it as ``aux["f0_net"]`` to the losses, which
use :func:`pitch_consistency_loss`.
"""

from __future__ import annotations

import itertools
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vc.errors import DataError
from vc.models.config import ModelConfig
from vc.models.layers import LRELU_SLOPE

# Frequency-halving stages before the rows are flattened into channels for the temporal convs.
_FREQ_STAGES = 3


class F0Net(nn.Module):
    """Per-frame pitch from a feature image.

    2-D convs that halve the frequency axis (keeping every frame), then the remaining rows are
    flattened into channels — pitch is *where* the harmonics sit, so the row position must survive —
    and 1-D convs over time give two outputs per frame.
    """

    def __init__(self, cfg: ModelConfig, dim_q: int):
        super().__init__()
        dim = cfg.f0_net_dim
        self.dim_q = dim_q
        layers: list[nn.Module] = [nn.Conv2d(1, dim, 3, 1, 1), nn.LeakyReLU(LRELU_SLOPE)]
        q = dim_q
        for _ in range(_FREQ_STAGES):
            layers += [nn.Conv2d(dim, dim, 3, (2, 1), 1), nn.LeakyReLU(LRELU_SLOPE)]
            q = (q + 1) // 2
        self.freq = nn.Sequential(*layers)
        self.time = nn.Sequential(
            nn.Conv1d(dim * q, 2 * dim, 5, 1, 2),
            nn.LeakyReLU(LRELU_SLOPE),
            nn.Conv1d(2 * dim, 2 * dim, 5, 1, 4, dilation=2),
            nn.LeakyReLU(LRELU_SLOPE),
            nn.Conv1d(2 * dim, 2, 1),
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x (B, 1, Q, N)`` -> ``(f0n_pred (B, N), voicing_logits (B, N))``."""
        if x.dim() != 4 or x.shape[2] != self.dim_q:
            raise ValueError(f"F0Net expects (B, 1, {self.dim_q}, N) features, got {tuple(x.shape)}")
        h = self.freq(x)  # (B, C, q, N)
        out = self.time(h.flatten(1, 2))  # (B, 2, N)
        return out[:, 0], out[:, 1]


def f0_net_loss(net: F0Net, x: torch.Tensor, f0n: torch.Tensor, voiced: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """L1 on the normalised log-F0 of voiced frames plus BCE on voicing.

    ``x (B, 1, Q, N)``, ``f0n (B, N)``, ``voiced (B, N)`` 0/1. Returns ``(loss, {"f0": .., "vuv": ..})``.
    """
    pred, logits = net(x)
    pred, logits = pred.float(), logits.float()
    voiced = voiced.float()
    f0_l1 = ((pred - f0n.float()).abs() * voiced).sum() / voiced.sum().clamp_min(1.0)
    vuv = F.binary_cross_entropy_with_logits(logits, voiced)
    return f0_l1 + vuv, {"f0": float(f0_l1.detach()), "vuv": float(vuv.detach())}


def _is_dump(data: Any) -> bool:
    return hasattr(data, "utterances") and hasattr(data, "stats")


def train_f0_net(
    data: Any,
    cfg: Any,
    steps: int | None = None,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> F0Net:
    """Train an :class:`F0Net` on pyworld labels and return it frozen (eval mode, no grads).

    ``data`` is a :class:`vc.data.Dump` (its train split is cropped to ``model.crop_for(...)``) or
    any dataset of dicts with ``x (1, Q, N)``, ``f0n (N,)``, ``voiced (N,)`` (a ``collate`` method
    is used when it has one). ``cfg`` is the :class:`~vc.config.ExperimentConfig`: ``model.f0_net_*``
    and ``train.batch_size`` are read. ``steps`` defaults to ``model.f0_net_steps``. Shuffling uses
    torch's global RNG, so a seeded run is repeatable.
    """
    if _is_dump(data):
        from vc.data import FeatureDataset

        data = FeatureDataset(data, "train", cfg.model.crop_for(cfg.features.kind), reference=False)
    if len(data) == 0:
        raise DataError("the F0 network has no training utterances (the train split is empty)")
    device = torch.device(device or "cpu")
    steps = cfg.model.f0_net_steps if steps is None else steps
    dim_q = data[0]["x"].shape[-2]
    net = F0Net(cfg.model, dim_q).to(device).train()
    opt = torch.optim.Adam(net.parameters(), lr=cfg.model.f0_net_lr)
    batch_size = min(cfg.train.batch_size, len(data))
    loader = torch.utils.data.DataLoader(
        data,
        batch_size=batch_size,
        shuffle=True,
        drop_last=True,
        collate_fn=getattr(data, "collate", None),
        num_workers=0,
    )
    from tqdm.auto import tqdm

    bar = tqdm(total=steps, desc="f0 net", disable=not progress, dynamic_ncols=True, mininterval=1.0)
    batches = itertools.chain.from_iterable(iter(loader) for _ in itertools.count())
    for _, batch in zip(range(steps), batches):
        x = batch["x"].to(device)
        loss, logs = f0_net_loss(net, x, batch["f0n"].to(device), batch["voiced"].to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        bar.update(1)
        bar.set_postfix({k: f"{v:.3f}" for k, v in logs.items()}, refresh=False)
    bar.close()
    return net.eval().requires_grad_(False)


def _normalise_contour(p: torch.Tensor, mask: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    mean = (p * mask).sum(1, keepdim=True) / n
    var = ((p - mean) ** 2 * mask).sum(1, keepdim=True) / n
    # The floor keeps a flat (monotone) source from blowing up prediction noise into a target.
    return (p - mean) / torch.sqrt(var + 1e-2)


def pitch_consistency_loss(
    f0_net: nn.Module, x_real: torch.Tensor, x_fake: torch.Tensor, voiced: torch.Tensor
) -> torch.Tensor:
    """Intonation of the conversion follows the source, the register may shift.

    Both contours predicted by the (frozen) F0 net are normalised per utterance — mean and std over
    the frames voiced in the source — and compared by L1 on those frames. ``x_real``, ``x_fake``
    ``(B, 1, Q, N)``, ``voiced (B, N)``; returns a float32 scalar. Gradients reach ``x_fake`` only.
    """
    with torch.no_grad():
        p_real = f0_net(x_real)[0].float()
    p_fake = f0_net(x_fake)[0].float()
    mask = voiced.float()
    n = mask.sum(1, keepdim=True).clamp_min(1.0)
    diff = (_normalise_contour(p_real, mask, n) - _normalise_contour(p_fake, mask, n)).abs() * mask
    return diff.sum() / mask.sum().clamp_min(1.0)
