"""The domain classifier behind the domain-accuracy metric.

A small gated CNN (the GLU convolutions of StarGAN-VC2's discriminator, ``vc.models.layers``) over
the toolkit's normalised features, trained on crops of the dump's REAL training audio. It is trained
once per dump and cached (``domain_classifier_<key>.pt``), keyed by the dump's feature fingerprint,
its domains, its training utterances and the classifier settings; its accuracy on the dump's real
dev audio is stored with it, so a domain-accuracy figure always comes with the evidence that the
judge itself can be trusted.

A whole utterance is classified by the mean of the logits of half-overlapping crops.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vc.data.dataset import crop_indices
from vc.data.dump import Dump
from vc.errors import DataError
from vc.features.config import FeatureConfig
from vc.io import atomic_path
from vc.models.layers import GatedConv2d

#: Bumped whenever the architecture or training recipe changes, so old caches are not reused.
CLASSIFIER_VERSION = 1
CHANNELS = (16, 32, 64)
BATCH_SIZE = 16
LEARNING_RATE = 1e-3


class DomainClassifier(nn.Module):
    """``(B, 1, Q, N)`` normalised features -> ``(B, K)`` domain logits.

    Three stride-2 gated convolutions and one stride-1 one; the result is averaged over time and the
    (channel, feature row) map goes through one linear layer, so the head sees *where* in the
    spectrum the energy is (speaker identity lives there), not only how much.
    """

    def __init__(self, dim_q: int, num_domains: int, channels: tuple[int, ...] = CHANNELS):
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 1
        for c in channels:
            layers.append(GatedConv2d(c_in, c, 3, 2))
            c_in = c
        layers.append(GatedConv2d(c_in, c_in, 3, 1))
        self.trunk = nn.Sequential(*layers)
        rows = dim_q
        for _ in channels:
            rows = (rows - 1) // 2 + 1  # a stride-2, padding-1, 3-tap conv
        self.head = nn.Linear(c_in * rows, num_domains)
        self.dim_q = dim_q
        self.num_domains = num_domains

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x (B, 1, Q, N)`` -> logits ``(B, K)``."""
        h = self.trunk(x).mean(dim=3)  # (B, C, q)
        return self.head(h.flatten(1))


def crop_frames(cfg: FeatureConfig, seconds: float) -> int:
    """Frames in a crop of ``seconds`` at the features' frame rate (at least 8)."""
    return max(8, int(round(seconds * cfg.sample_rate / cfg.hop)))


def utterance_crops(x: np.ndarray, crop: int) -> torch.Tensor:
    """``x (Q, n)`` -> ``(C, 1, Q, crop)``: half-overlapping crops covering the clip (the last one
    aligned to its end); a clip shorter than ``crop`` is tiled (the training crop/pad policy)."""
    n = x.shape[1]
    if n <= crop:
        crops = [x[:, crop_indices(n, crop, random=False)]]
    else:
        starts = list(range(0, n - crop + 1, max(1, crop // 2)))
        if starts[-1] != n - crop:
            starts.append(n - crop)
        crops = [x[:, s : s + crop] for s in starts]
    return torch.from_numpy(np.stack(crops)[:, None].astype(np.float32))


@dataclass
class TrainedClassifier:
    """A domain classifier ready to judge utterances."""

    model: DomainClassifier
    domains: list[str]
    crop: int
    dev_accuracy: float | None
    dev_utterances: int
    path: Path
    loaded_from_cache: bool
    device: torch.device

    @torch.no_grad()
    def logits(self, x: np.ndarray) -> np.ndarray:
        """Mean crop logits ``(K,)`` of one utterance's normalised features ``x (Q, n)``."""
        crops = utterance_crops(x, self.crop).to(self.device)
        return self.model(crops).mean(dim=0).float().cpu().numpy()

    def predict(self, x: np.ndarray) -> str:
        """The most likely domain of normalised features ``x (Q, n)``."""
        return self.domains[int(np.argmax(self.logits(x)))]

    def info(self) -> dict:
        return {
            "dev_accuracy": self.dev_accuracy,
            "dev_utterances": self.dev_utterances,
            "path": str(self.path),
            "loaded_from_cache": self.loaded_from_cache,
        }


def cache_key(dump: Dump, steps: int, crop: int) -> str:
    """What the classifier depends on: features, domains, training utterances and settings."""
    train_ids = sorted(u.utt_id for u in dump.utterances("train"))
    blob = json.dumps(
        {
            "version": CLASSIFIER_VERSION,
            "fingerprint": dump.fingerprint,
            "domains": dump.domains,
            "train": hashlib.sha256("\n".join(train_ids).encode()).hexdigest(),
            "steps": steps,
            "crop": crop,
            "channels": CHANNELS,
            "batch": BATCH_SIZE,
            "lr": LEARNING_RATE,
        },
        sort_keys=True,
    ).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def features_for_classifier(wav: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """Un-normalised features ``(N, Q)`` of ``wav`` as the dump stores them (no F0 for ``mel``)."""
    if cfg.kind == "mel":
        from vc.features.mel import logmel

        return logmel(wav, cfg)
    from vc.features.extract import extract

    return extract(wav, cfg).feats


def _train(dump: Dump, steps: int, crop: int, device: torch.device, progress: bool) -> DomainClassifier:
    from torch.utils.data import DataLoader
    from tqdm.auto import tqdm

    from vc.data.dataset import FeatureDataset

    # Holding every clip in memory is what makes small corpora fast; a large one is read per item.
    cache = len(dump.utterances("train")) <= 5000
    ds = FeatureDataset(dump, "train", crop, reference=False, random_crop=True, cache=cache)
    loader = DataLoader(ds, batch_size=BATCH_SIZE, shuffle=True, drop_last=len(ds) > BATCH_SIZE)
    model = DomainClassifier(dump.features_cfg.dim, dump.num_domains).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    model.train()
    step = 0
    bar = tqdm(total=steps, desc="domain classifier", unit="step", disable=None if progress else True,
               leave=False, file=sys.stderr)
    try:
        while step < steps:
            for batch in loader:
                logits = model(batch["x"].to(device))
                loss = nn.functional.cross_entropy(logits, batch["y"].to(device))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                step += 1
                bar.update()
                if step >= steps:
                    break
    finally:
        bar.close()
    return model.eval().requires_grad_(False)


def _dev_accuracy(clf: TrainedClassifier, dump: Dump) -> tuple[float | None, int]:
    try:
        utts = dump.utterances("dev")
    except DataError:
        return None, 0
    if not utts:
        return None, 0
    stats = dump.stats
    correct = 0
    for u in utts:
        x = stats.normalize(dump.load(u.utt_id).feats).T
        correct += clf.predict(x) == u.domain
    return correct / len(utts), len(utts)


def load_or_train(dump: Dump, steps: int, crop_seconds: float, cache_dir: str | os.PathLike,
                  device: str | torch.device | None = None, progress: bool = True,
                  seed: int = 0) -> TrainedClassifier:
    """The cached classifier for ``dump`` and these settings, else train one (``steps`` Adam steps on
    random crops of the train split) and cache it in ``cache_dir``.

    Training is deterministic for a given seed on CPU and leaves torch's global RNG as it found it.
    """
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    crop = crop_frames(dump.features_cfg, crop_seconds)
    key = cache_key(dump, steps, crop)
    path = Path(cache_dir) / f"domain_classifier_{key}.pt"
    if path.is_file():
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            model = DomainClassifier(state["dim_q"], len(state["domains"]))
            model.load_state_dict(state["model"])
            return TrainedClassifier(model.to(device).eval().requires_grad_(False), list(state["domains"]), crop,
                                     state["dev_accuracy"], int(state["dev_utterances"]), path, True, device)
        except (OSError, RuntimeError, KeyError, ValueError):
            pass  # a damaged or foreign cache file: retrain and overwrite it
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = _train(dump, steps, crop, device, progress)
    clf = TrainedClassifier(model, list(dump.domains), crop, None, 0, path, False, device)
    clf.dev_accuracy, clf.dev_utterances = _dev_accuracy(clf, dump)
    state = {
        "model": {k: v.cpu() for k, v in model.state_dict().items()},
        "dim_q": dump.features_cfg.dim,
        "domains": list(dump.domains),
        "dev_accuracy": clf.dev_accuracy,
        "dev_utterances": clf.dev_utterances,
        "key": key,
    }
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return clf
