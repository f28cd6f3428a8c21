"""Feature and log-F0 statistics, stored as parallel-wavegan's ``stats.h5``.

File layout (``stats.h5``)::

    mean            (Q,) float64   per-dimension mean of the training features
    scale           (Q,) float64   per-dimension standard deviation (floored, see SCALE_FLOOR)
    lf0/<domain>    (2,) float64   [mean, std] of log F0 (natural log, Hz) over voiced frames
    lf0.attrs["domains"]           JSON list: the domain order
    domain/<domain> (2, Q) float64 [mean, std] per dimension of that domain's features over its voiced
                                   frames (the statistical conversion; absent in files of vc < 0.2)
    attrs["features"]              JSON of the FeatureConfig;  attrs["fingerprint"]

``mean`` and ``scale`` are what parallel-wavegan's ``compute_statistics`` writes (it stores float32;
its ``read_hdf5``/``StandardScaler`` read either), so its ``normalize`` and decoders accept our file.

Statistics are accumulated one utterance at a time (:class:`StatsAccumulator`, Chan's parallel
variance update in float64), so a corpus never has to fit in memory.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from vc.errors import DataError
from vc.features.config import FeatureConfig, check_fingerprint
from vc.io import atomic_path

SCALE_FLOOR = 1e-3
"""A feature dimension whose standard deviation is below this is divided by this instead: a
constant dimension (e.g. mel bands above the content's bandwidth, all at the log floor) would
otherwise divide by zero."""
LF0_STD_FLOOR = 1e-3


def _is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch")


def _vector(values: np.ndarray, like: Any, axis: int) -> Any:
    """``values (Q,)`` shaped to broadcast along ``axis`` of ``like`` (numpy array or torch tensor)."""
    shape = [1] * like.ndim
    shape[axis] = -1
    if _is_torch(like):
        import torch

        return torch.as_tensor(values, dtype=like.dtype, device=like.device).reshape(shape)
    return np.asarray(values, dtype=like.dtype if like.dtype.kind == "f" else np.float32).reshape(shape)


class Stats:
    """Normalisation of features and F0.

    Attributes:
        mean, scale: ``(Q,)`` float64 feature mean and standard deviation (floored).
        lf0_mean, lf0_std: per-domain log-F0 mean and standard deviation (natural log of Hz).
        domains: domain names in index order (``f0_normalized``/``convert_f0`` take a name or index).
        features, fingerprint: the feature config dict and fingerprint the statistics belong to.
        domain_mean, domain_std: per-domain ``(Q,)`` feature mean and standard deviation over the
            domain's voiced training frames (raw features, not normalised); empty for statistics
            written before they existed (:meth:`domain_moments` then says to re-run vc-prep).
    """

    def __init__(
        self,
        mean: np.ndarray,
        scale: np.ndarray,
        lf0_mean: dict[str, float],
        lf0_std: dict[str, float],
        domains: list[str] | None = None,
        features: dict | None = None,
        fingerprint: str | None = None,
        domain_mean: dict[str, np.ndarray] | None = None,
        domain_std: dict[str, np.ndarray] | None = None,
    ) -> None:
        self.mean = np.asarray(mean, dtype=np.float64)
        self.scale = np.asarray(scale, dtype=np.float64)
        self.lf0_mean = {k: float(v) for k, v in lf0_mean.items()}
        self.lf0_std = {k: float(v) for k, v in lf0_std.items()}
        self.domains = list(domains) if domains is not None else list(self.lf0_mean)
        self.features = features
        self.fingerprint = fingerprint
        self.domain_mean = {k: np.asarray(v, dtype=np.float64) for k, v in (domain_mean or {}).items()}
        self.domain_std = {k: np.asarray(v, dtype=np.float64) for k, v in (domain_std or {}).items()}

    @property
    def dim(self) -> int:
        return int(self.mean.shape[0])

    # --- features -------------------------------------------------------------------------------
    def normalize(self, feats: Any, axis: int = -1) -> Any:
        """``(feats - mean) / scale``; ``axis`` is the Q axis (``-1`` for frame-major ``(N, Q)``,
        ``-2`` for a ``(B, 1, Q, N)`` image). Works on numpy arrays and torch tensors."""
        return (feats - _vector(self.mean, feats, axis)) / _vector(self.scale, feats, axis)

    def denormalize(self, feats: Any, axis: int = -1) -> Any:
        """Inverse of :meth:`normalize`."""
        return feats * _vector(self.scale, feats, axis) + _vector(self.mean, feats, axis)

    def domain_moments(self, domain: str | int, normalized: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """``(mean (Q,), std (Q,))`` of a domain's features over its voiced training frames, in the
        normalised feature space (``normalized``) or in raw feature units.

        Raises:
            DataError: the statistics predate per-domain feature moments (re-run vc-prep).
        """
        d = self._domain(domain)
        if d not in self.domain_mean:
            raise DataError(
                f"the feature statistics hold no per-domain moments for {d!r} (written by an older vc-prep); "
                "re-run vc-prep on the corpus"
            )
        mu, sd = self.domain_mean[d], self.domain_std[d]
        if normalized:
            return (mu - self.mean) / self.scale, sd / self.scale
        return mu.copy(), sd.copy()

    @property
    def has_domain_moments(self) -> bool:
        return bool(self.domains) and all(d in self.domain_mean for d in self.domains)

    # --- F0 -------------------------------------------------------------------------------------
    def _domain(self, domain: str | int) -> str:
        if isinstance(domain, (int, np.integer)):
            return self.domains[int(domain)]
        if domain not in self.lf0_mean:
            raise DataError(f"no F0 statistics for domain {domain!r}; known: {', '.join(self.domains)}")
        return domain

    def f0_normalized(self, f0: Any, domain: str | int) -> Any:
        """z-scored log-F0 ``(N,)``: ``(log f0 - mu_d) / sd_d`` on voiced frames, 0 where ``f0 == 0``."""
        d = self._domain(domain)
        mu, sd = self.lf0_mean[d], self.lf0_std[d]
        if _is_torch(f0):
            import torch

            voiced = f0 > 0
            z = (torch.log(torch.where(voiced, f0, torch.ones_like(f0))) - mu) / sd
            return torch.where(voiced, z, torch.zeros_like(z))
        f0 = np.asarray(f0)
        voiced = f0 > 0
        out = np.zeros(f0.shape, dtype=np.float32)
        out[voiced] = (np.log(f0[voiced].astype(np.float64)) - mu) / sd
        return out

    def convert_f0(self, f0: Any, src: str | int, tgt: str | int) -> Any:
        """Log-Gaussian F0 transform ``exp((log f0 - mu_s) / sd_s * sd_t + mu_t)`` on voiced frames.

        ``f0 (N,)`` Hz; unvoiced frames (0) stay 0. The source mean maps onto the target mean.
        """
        s, t = self._domain(src), self._domain(tgt)
        ratio = self.lf0_std[t] / self.lf0_std[s]
        if _is_torch(f0):
            import torch

            voiced = f0 > 0
            lf0 = torch.log(torch.where(voiced, f0, torch.ones_like(f0)))
            out = torch.exp((lf0 - self.lf0_mean[s]) * ratio + self.lf0_mean[t])
            return torch.where(voiced, out, torch.zeros_like(out))
        f0 = np.asarray(f0)
        voiced = f0 > 0
        out = np.zeros(f0.shape, dtype=np.float32)
        lf0 = np.log(f0[voiced].astype(np.float64))
        out[voiced] = np.exp((lf0 - self.lf0_mean[s]) * ratio + self.lf0_mean[t])
        return out

    # --- plain data (checkpoints) ------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Lists, floats and strings only, so a checkpoint holding it loads with ``weights_only``."""
        return {
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "lf0_mean": dict(self.lf0_mean),
            "lf0_std": dict(self.lf0_std),
            "domains": list(self.domains),
            "features": self.features,
            "fingerprint": self.fingerprint,
            "domain_mean": {k: v.tolist() for k, v in self.domain_mean.items()},
            "domain_std": {k: v.tolist() for k, v in self.domain_std.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Stats:
        """Inverse of :meth:`to_dict`."""
        return cls(
            np.asarray(data["mean"], dtype=np.float64),
            np.asarray(data["scale"], dtype=np.float64),
            data["lf0_mean"],
            data["lf0_std"],
            data.get("domains"),
            data.get("features"),
            data.get("fingerprint"),
            data.get("domain_mean"),
            data.get("domain_std"),
        )

    # --- files ----------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike, cfg: FeatureConfig) -> None:
        """Write ``stats.h5`` atomically (layout in the module docstring)."""
        path = Path(path)
        with atomic_path(path) as tmp, h5py.File(tmp, "w") as h5:
            h5.create_dataset("mean", data=self.mean.astype(np.float64))
            h5.create_dataset("scale", data=self.scale.astype(np.float64))
            grp = h5.create_group("lf0")
            grp.attrs["domains"] = json.dumps(self.domains, ensure_ascii=False)
            for d in self.domains:
                grp.create_dataset(d, data=np.array([self.lf0_mean[d], self.lf0_std[d]], dtype=np.float64))
            if self.domain_mean:
                grp = h5.create_group("domain")
                for d in self.domains:
                    if d in self.domain_mean:
                        grp.create_dataset(d, data=np.stack([self.domain_mean[d], self.domain_std[d]]))
            h5.attrs["features"] = json.dumps(cfg.to_dict(), sort_keys=True)
            h5.attrs["fingerprint"] = cfg.fingerprint()
        self.features, self.fingerprint = cfg.to_dict(), cfg.fingerprint()

    @classmethod
    def load(cls, path: str | os.PathLike, expected: FeatureConfig | None = None) -> Stats:
        """Read ``stats.h5``; with ``expected``, refuse statistics of other feature settings.

        Raises:
            DataError: missing or unreadable file. FingerprintError: made with other features.
        """
        path = Path(path)
        if not path.is_file():
            raise DataError(f"{path}: statistics file not found")
        try:
            with h5py.File(path, "r") as h5:
                mean = h5["mean"][()]
                scale = h5["scale"][()]
                features = json.loads(h5.attrs["features"]) if "features" in h5.attrs else None
                fingerprint = str(h5.attrs["fingerprint"]) if "fingerprint" in h5.attrs else None
                lf0_mean, lf0_std, domains = {}, {}, []
                if "lf0" in h5:
                    grp = h5["lf0"]
                    domains = json.loads(grp.attrs["domains"]) if "domains" in grp.attrs else sorted(grp)
                    for d in domains:
                        lf0_mean[d], lf0_std[d] = (float(v) for v in grp[d][()])
                dom_mean, dom_std = {}, {}
                if "domain" in h5:
                    for d in h5["domain"]:
                        dom_mean[d], dom_std[d] = h5["domain"][d][()]
        except (OSError, KeyError, ValueError) as exc:
            raise DataError(f"{path}: not a readable statistics file ({exc})") from None
        if expected is not None:
            if features is None:
                raise DataError(f"{path}: statistics file holds no feature config; re-run vc-prep")
            check_fingerprint(expected, features, str(path))
        return cls(mean, scale, lf0_mean, lf0_std, domains, features, fingerprint, dom_mean, dom_std)


class _Moments:
    """Running count, mean and sum of squared deviations, merged batch-wise (Chan et al.)."""

    def __init__(self, dim: int | None = None) -> None:
        shape = () if dim is None else (dim,)
        self.n = 0
        self.mean = np.zeros(shape, dtype=np.float64)
        self.m2 = np.zeros(shape, dtype=np.float64)

    def add(self, x: np.ndarray) -> None:
        """``x (M, dim)`` or ``(M,)`` samples."""
        m = x.shape[0]
        if m == 0:
            return
        x = x.astype(np.float64)
        b_mean = x.mean(axis=0)
        b_m2 = ((x - b_mean) ** 2).sum(axis=0)
        n = self.n + m
        delta = b_mean - self.mean
        self.mean = self.mean + delta * (m / n)
        self.m2 = self.m2 + b_m2 + delta**2 * (self.n * m / n)
        self.n = n

    @property
    def std(self) -> np.ndarray:
        return np.sqrt(self.m2 / max(self.n, 1))


class StatsAccumulator:
    """Collects :class:`Stats` one utterance at a time.

    >>> acc = StatsAccumulator(dim=80, domains=["p225", "p226"])
    >>> acc.add(feats, f0, "p225")          # feats (N, Q), f0 (N,) Hz
    >>> stats = acc.finish()
    """

    def __init__(self, dim: int, domains: list[str]) -> None:
        self.domains = list(domains)
        self.feats = _Moments(dim)
        self.lf0 = {d: _Moments() for d in self.domains}
        self.voiced_feats = {d: _Moments(dim) for d in self.domains}

    def add(self, feats: np.ndarray, f0: np.ndarray, domain: str) -> None:
        self.feats.add(feats)
        voiced = f0 > 0
        self.lf0[domain].add(np.log(f0[voiced].astype(np.float64)))
        self.voiced_feats[domain].add(feats[voiced])

    def finish(self) -> Stats:
        """The statistics; a domain without voiced training frames borrows the pooled log-F0 ones.

        Raises:
            DataError: no frames at all, or no voiced frame in any domain.
        """
        if self.feats.n == 0:
            raise DataError("no training frames to compute statistics from")
        scale = np.maximum(self.feats.std, SCALE_FLOOR)
        pooled = _Moments()
        for m in self.lf0.values():
            if m.n:
                pooled.n, pooled.mean, pooled.m2 = _merge(pooled, m)
        if pooled.n == 0:
            raise DataError("no voiced frames in the training audio: F0 statistics cannot be computed")
        lf0_mean, lf0_std = {}, {}
        for d, m in self.lf0.items():
            src = m if m.n else pooled
            lf0_mean[d] = float(src.mean)
            lf0_std[d] = float(max(src.std, LF0_STD_FLOOR))
        # Per-domain feature moments over voiced frames; a domain with fewer than two voiced frames
        # borrows the moments of all its frames' pool (the global ones), so the shift is the identity.
        dom_mean, dom_std = {}, {}
        for d, m in self.voiced_feats.items():
            use = m if m.n >= 2 else self.feats
            dom_mean[d], dom_std[d] = use.mean.copy(), np.maximum(use.std, SCALE_FLOOR)
        return Stats(self.feats.mean, scale, lf0_mean, lf0_std, self.domains, domain_mean=dom_mean,
                     domain_std=dom_std)

    def unvoiced_domains(self) -> list[str]:
        """Domains that had no voiced training frame (they use pooled log-F0 statistics)."""
        return [d for d, m in self.lf0.items() if m.n == 0]


def _merge(a: _Moments, b: _Moments) -> tuple[int, np.ndarray, np.ndarray]:
    n = a.n + b.n
    delta = b.mean - a.mean
    mean = a.mean + delta * (b.n / n)
    m2 = a.m2 + b.m2 + delta**2 * (a.n * b.n / n)
    return n, mean, m2
