"""Batches as a pure function of (seed, step, rank): resuming at step k replays exactly what an
uninterrupted run would have seen, and ranks of a distributed run see disjoint slices."""

from __future__ import annotations

from collections.abc import Iterator

import torch


class StepBatchSampler:
    """Yields lists of dataset indices, one list per training step, starting at ``start_step``.

    The index stream is a concatenation of per-epoch permutations, each drawn from a generator
    seeded with ``seed + epoch``. Step ``k`` on rank ``r`` of ``world`` takes the ``batch_size``
    indices at position ``(k * world + r) * batch_size`` of that stream.
    """

    def __init__(self, num_items: int, batch_size: int, seed: int, start_step: int = 0,
                 rank: int = 0, world_size: int = 1) -> None:
        if num_items <= 0:
            raise ValueError("empty dataset")
        self.n = num_items
        self.batch_size = batch_size
        self.seed = seed
        self.start_step = start_step
        self.rank = rank
        self.world_size = world_size
        self._cache: dict[int, torch.Tensor] = {}

    def _perm(self, epoch: int) -> torch.Tensor:
        if epoch not in self._cache:
            g = torch.Generator().manual_seed(self.seed + epoch)
            self._cache = {epoch: torch.randperm(self.n, generator=g)}
        return self._cache[epoch]

    def indices_for_step(self, step: int) -> list[int]:
        start = (step * self.world_size + self.rank) * self.batch_size
        out = []
        for pos in range(start, start + self.batch_size):
            out.append(int(self._perm(pos // self.n)[pos % self.n]))
        return out

    def __iter__(self) -> Iterator[list[int]]:
        step = self.start_step
        while True:
            yield self.indices_for_step(step)
            step += 1
