"""Training batches from a prepared dump.

:class:`FeatureDataset` yields normalised feature crops with their pitch and domain, plus (for the
StarGAN v2 style encoder and diversity loss) two reference crops of one random domain.

Crop/pad policy, for a clip of ``n`` frames and ``crop_frames = N``:

* ``n > N``: a crop of ``N`` consecutive frames, at a random start when ``random_crop`` (the default
  for the train split), else the centred one;
* ``n < N``: the clip is repeated (tiled) until it fills ``N`` frames: ``frames[i % n]``. Padding with
  silence would teach the discriminator that silence is real; repeating keeps every frame speech, so
  even 0.4 s single-word clips train with 2 s crops;
* ``crop_frames=None``: whole clips (use :func:`collate`, which tiles to the longest in the batch).

Randomness (crop starts, reference domain and utterances) uses torch's global RNG (``torch.randint``),
so a seeded or resumed run draws the same batches. With ``random_crop=False`` the reference choice is
deterministic too (it cycles through the domains and their utterances by item index), so dev
losses are comparable between evaluations.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch.utils.data import Dataset

from vc.data.dump import Dump
from vc.errors import DataError


def _randint(high: int) -> int:
    """Uniform integer in ``[0, high)`` from torch's global RNG."""
    return int(torch.randint(high, ())) if high > 1 else 0


def crop_indices(n: int, crop: int | None, random: bool) -> np.ndarray:
    """Frame indices ``(crop,)`` of a ``crop``-frame window of an ``n``-frame clip (see the policy):
    a random or centred window of a long clip, the clip tiled for a short one, all frames for None."""
    if crop is None:
        return np.arange(n)
    if n >= crop:
        start = _randint(n - crop + 1) if random else (n - crop) // 2
        return np.arange(start, start + crop)
    return np.arange(crop) % n


class FeatureDataset(Dataset):
    """Normalised feature crops of one split of a dump.

    Args:
        dump: a :class:`~vc.data.Dump` (or its directory).
        split: ``train``, ``dev``, ``test`` or ``all``.
        crop_frames: ``N``, the frames per item (None: whole clips).
        reference: also yield ``x_ref``, ``x_ref2`` and ``y_ref``.
        random_crop: random crops and reference choice; default True for ``train`` only.
        cache: keep each utterance's normalised features in memory after its first load.

    Items are dicts of tensors:
        ``x (1, Q, N)`` normalised features, ``f0n (N,)`` z-scored log-F0 (0 unvoiced),
        ``voiced (N,)`` 0/1 float, ``y ()`` domain index (long), ``utt ()`` the clip's index in the
        dump's train manifest (-1 for other splits; the kNN base leaves that utterance out when it
        rebuilds a clip from its own speaker's frames); with ``reference``:
        ``x_ref``, ``x_ref2 (1, Q, N)`` crops of two utterances (the same one if the domain has a single
        utterance in this split) of domain ``y_ref ()`` (long), drawn uniformly among the domains that
        have utterances in this split.
    """

    def __init__(
        self,
        dump: Dump | str | os.PathLike,
        split: str,
        crop_frames: int | None,
        reference: bool = True,
        random_crop: bool | None = None,
        cache: bool = True,
    ) -> None:
        self.dump = dump if isinstance(dump, Dump) else Dump(dump)
        self.split = split
        if crop_frames is not None and crop_frames < 1:
            raise DataError(f"crop_frames must be a positive number of frames, got {crop_frames}")
        self.crop_frames = crop_frames
        self.reference = reference
        self.random_crop = split == "train" if random_crop is None else random_crop
        self.utts = self.dump.utterances(split)
        if not self.utts:
            raise DataError(f"{self.dump.dir}: the {split} split is empty (see data.dev_per_domain/test_per_domain)")
        self.stats = self.dump.stats
        self.labels = [self.dump.domain_index(u.domain) for u in self.utts]
        self.by_domain: dict[int, list[int]] = {}
        for i, y in enumerate(self.labels):
            self.by_domain.setdefault(y, []).append(i)
        self.ref_domains = sorted(self.by_domain)
        self._cache: dict[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] | None = {} if cache else None

    def __len__(self) -> int:
        return len(self.utts)

    def _features(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``x (Q, n)`` normalised, ``f0n (n,)``, ``voiced (n,)`` of utterance ``i`` (whole clip)."""
        if self._cache is not None and i in self._cache:
            return self._cache[i]
        u = self.utts[i]
        f = self.dump.load(u.utt_id)
        x = torch.from_numpy(np.ascontiguousarray(self.stats.normalize(f.feats).T, dtype=np.float32))
        f0n = torch.from_numpy(self.stats.f0_normalized(f.f0, u.domain).astype(np.float32))
        voiced = torch.from_numpy((f.f0 > 0).astype(np.float32))
        item = (x, f0n, voiced)
        if self._cache is not None:
            self._cache[i] = item
        return item

    def _crop(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x, f0n, voiced = self._features(i)
        idx = torch.from_numpy(crop_indices(x.shape[1], self.crop_frames, self.random_crop))
        return x[:, idx].unsqueeze(0), f0n[idx], voiced[idx]

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        x, f0n, voiced = self._crop(i)
        item = {"x": x, "f0n": f0n, "voiced": voiced, "y": torch.tensor(self.labels[i], dtype=torch.long),
                "utt": torch.tensor(i if self.split == "train" else -1, dtype=torch.long)}
        if self.reference:
            if self.random_crop:
                y_ref = self.ref_domains[_randint(len(self.ref_domains))]
                pool = self.by_domain[y_ref]
                j1, j2 = pool[_randint(len(pool))], pool[_randint(len(pool))]
            else:
                pos = self.ref_domains.index(self.labels[i])
                y_ref = self.ref_domains[(pos + 1 + i) % len(self.ref_domains)]
                pool = self.by_domain[y_ref]
                j1, j2 = pool[i % len(pool)], pool[(i + 1) % len(pool)]
            item["x_ref"] = self._crop(j1)[0]
            item["x_ref2"] = self._crop(j2)[0]
            item["y_ref"] = torch.tensor(y_ref, dtype=torch.long)
        return item


def collate(batch: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Stack items; clips of different lengths are tiled to the longest (adds ``lengths (B,)``).

    With a fixed ``crop_frames`` this equals torch's default collate (plus ``lengths``).
    """
    lengths = torch.tensor([item["x"].shape[-1] for item in batch], dtype=torch.long)
    out: dict[str, torch.Tensor] = {}
    for key in batch[0]:
        values = [item[key] for item in batch]
        if values[0].dim() == 0:
            out[key] = torch.stack(values)
            continue
        longest = max(v.shape[-1] for v in values)
        out[key] = torch.stack([v[..., torch.arange(longest) % v.shape[-1]] for v in values])
    out["lengths"] = lengths
    return out
