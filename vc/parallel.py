"""One process pool for the CPU-bound per-file work of ``vc-prep`` and ``vc-eval``."""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, TypeVar

J = TypeVar("J")
R = TypeVar("R")


def _single_threaded() -> None:
    # One process per core: intra-op threads would only oversubscribe the cores.
    import torch

    torch.set_num_threads(1)


def map_progress(fn: Callable[[J, Any], R], jobs: Sequence[J], opts: Any, workers: int, *, desc: str, unit: str,
                 progress: bool = True, warm_up: Callable[[Any], None] | None = None) -> list[R]:
    """``[fn(job, opts) for job in jobs]`` behind a tqdm bar, in ``workers`` processes (0: every core).

    Results come back in completion order. Workers are forked after ``warm_up(opts)`` has run in the
    parent, so they inherit imported modules and JIT-compiled code (librosa/numba) instead of paying
    seconds each, and an unguarded ``__main__`` is never re-run as spawn/forkserver would do.
    """
    from tqdm.auto import tqdm

    workers = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
    bar = tqdm(total=len(jobs), desc=desc, unit=unit, disable=None if progress else True, leave=False,
               file=sys.stderr)
    results: list[R] = []
    try:
        if workers == 1:
            for job in jobs:
                results.append(fn(job, opts))
                bar.update()
        else:
            if warm_up is not None:
                warm_up(opts)
            methods = multiprocessing.get_all_start_methods()
            ctx = multiprocessing.get_context("fork" if "fork" in methods else None)
            with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_single_threaded) as pool:
                futures = [pool.submit(fn, job, opts) for job in jobs]
                for fut in as_completed(futures):
                    results.append(fut.result())
                    bar.update()
    finally:
        bar.close()
    return results
