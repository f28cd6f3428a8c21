"""Simple systems every evaluation scores beside the model, on the same utterances by the same code.

* ``source``: no conversion; the source clip itself.
* ``resynth``: WORLD analysis–resynthesis of the source (F0, spectral envelope and aperiodicity
  unchanged): the ceiling of anything that goes through the WORLD vocoder.
* ``statistical``: the classic signal-processing conversion. Log-F0 by the log-Gaussian transform of
  the two domains' statistics; the WORLD coded spectral envelope by per-dimension mean/variance
  matching, ``(c − μ_src) / σ_src · σ_tgt + μ_tgt``, with per-domain means and standard deviations
  over the voiced frames of the training split; aperiodicity kept from the source.
* ``statistical_gated``: the statistical conversion through the conversions' own silence gate
  (``vocoder.silence_gate_db``, :mod:`vc.features.gate`), keyed by the source's frames as the converter
  keys it. The gate is a post-process that would lift any conversion; this row shows what vc's lead
  over the plain statistical conversion is worth without it. Scored only when the conversions have a
  gate.

Every output's loudness is matched to its source as the converter does (so loudness differences do
not decide the comparison) and its peak kept below full scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vc.convert.converter import match_loudness
from vc.features.config import FeatureConfig

#: The systems in the order a report shows them, with what each one is.
BASELINES: dict[str, str] = {
    "source": "no conversion (the source itself)",
    "resynth": "WORLD analysis-resynthesis of the source",
    "statistical": "WORLD, log-Gaussian F0 + per-dimension mean/variance of the coded envelope",
    "statistical_gated": "the statistical conversion through the conversions' silence gate",
}


def world_config(features: FeatureConfig) -> FeatureConfig:
    """The WORLD settings the baselines analyse with: the experiment's own when it uses WORLD
    features, else WORLD at its sampling rate, F0 method and range (36 coded dims, 5 ms)."""
    if features.kind == "world":
        return features
    return FeatureConfig(kind="world", sample_rate=features.sample_rate, f0_method=features.f0_method,
                         f0_floor=features.f0_floor, f0_ceil=features.f0_ceil)


def resynthesize(wav: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """WORLD analysis–resynthesis of ``wav`` with the WORLD config ``cfg``, same length and loudness."""
    from vc.features import world

    sp, f0, ap = world.analyze(wav, cfg)
    return match_loudness(world.synthesize(sp, f0, ap, cfg), wav)


@dataclass
class DomainSpectra:
    """Per-dimension statistics of one domain's coded spectral envelope (voiced frames)."""

    mean: np.ndarray
    """``(Q,)``"""
    std: np.ndarray
    """``(Q,)``, floored so a constant dimension cannot blow up the ratio."""
    lf0_mean: float
    lf0_std: float


class StatisticalConversion:
    """The statistical baseline (module docstring). Build it with :meth:`fit`."""

    def __init__(self, cfg: FeatureConfig, domains: dict[str, DomainSpectra]) -> None:
        self.cfg = cfg
        self.domains = domains

    @classmethod
    def fit(cls, cfg: FeatureConfig, clips: dict[str, list[np.ndarray]]) -> StatisticalConversion:
        """Statistics of each domain from its clips (waveforms at ``cfg.sample_rate``).

        A domain with fewer than two voiced frames in all its clips is a ValueError naming it.
        """
        from vc.features import world

        domains = {}
        for name, wavs in clips.items():
            sps, lf0s = [], []
            for wav in wavs:
                sp, f0, _ = world.analyze(wav, cfg)
                sps.append(sp[f0 > 0])
                lf0s.append(np.log(f0[f0 > 0]))
            domains[name] = cls.spectra(np.concatenate(sps) if sps else np.zeros((0, cfg.dim)),
                                        np.concatenate(lf0s) if lf0s else np.zeros(0), name)
        return cls(cfg, domains)

    @staticmethod
    def spectra(voiced_sp: np.ndarray, lf0: np.ndarray, name: str = "") -> DomainSpectra:
        """``voiced_sp (M, Q)`` coded envelope and ``lf0 (M,)`` log-F0 of voiced frames -> statistics."""
        if len(voiced_sp) < 2 or len(lf0) < 2:
            raise ValueError(f"domain {name!r}: too few voiced frames for the statistical baseline")
        return DomainSpectra(voiced_sp.mean(0), np.maximum(voiced_sp.std(0), 1e-3),
                             float(lf0.mean()), float(max(lf0.std(), 1e-3)))

    def convert_features(self, sp: np.ndarray, f0: np.ndarray, src: str, tgt: str) -> tuple[np.ndarray, np.ndarray]:
        """``sp (N, Q)`` coded envelope and ``f0 (N,)`` Hz of a ``src`` clip -> ``tgt``'s statistics."""
        s, t = self.domains[src], self.domains[tgt]
        sp_out = (sp - s.mean) / s.std * t.std + t.mean
        f0_out = np.zeros_like(f0)
        voiced = f0 > 0
        f0_out[voiced] = np.exp((np.log(f0[voiced]) - s.lf0_mean) / s.lf0_std * t.lf0_std + t.lf0_mean)
        return sp_out.astype(np.float64), f0_out

    def __call__(self, wav: np.ndarray, src: str, tgt: str, gate: tuple[float, float] | None = None) -> np.ndarray:
        """Convert ``wav`` (at ``cfg.sample_rate``) from domain ``src`` to ``tgt``; same length and loudness.
        ``gate``: ``(threshold_db, ratio)`` of a silence gate keyed by the source's frames (None: none)."""
        return self.convert_gated(wav, src, tgt, [gate])[0]

    def convert_gated(self, wav: np.ndarray, src: str, tgt: str,
                      gates: list[tuple[float, float] | None]) -> list[np.ndarray]:
        """:meth:`__call__` once per entry of ``gates``, from one WORLD analysis of ``wav``."""
        from vc.features import world
        from vc.features.gate import silence_gate

        sp, f0, ap = world.analyze(wav, self.cfg)
        sp_out, f0_out = self.convert_features(sp, f0, src, tgt)
        out = []
        for gate in gates:
            gated = silence_gate(sp_out, sp, self.cfg, *gate) if gate is not None and gate[0] > 0 else sp_out
            out.append(match_loudness(world.synthesize(gated, f0_out, ap, self.cfg), wav))
        return out


def fit_from_dump(dump, max_utts: int = 20, log=None) -> StatisticalConversion:
    """The statistical baseline fitted on a dump's training split.

    A WORLD dump's ``stats.h5`` already holds each domain's moments over the voiced frames of all its
    training utterances (the very statistics ``model.generator_base: statistical`` starts from), and
    they are used as they are. Otherwise up to ``max_utts`` training utterances per domain are read:
    a WORLD dump's cached features, or the training audio analysed with :func:`world_config`.
    """
    from vc.audio import load
    from vc.errors import VCError

    cfg = world_config(dump.features_cfg)
    stats = dump.stats
    if dump.features_cfg.kind == "world" and stats.has_domain_moments:
        domains = {}
        for d in dump.domains:
            mean, std = stats.domain_moments(d, normalized=False)
            domains[d] = DomainSpectra(mean, np.maximum(std, 1e-3), stats.lf0_mean[d], stats.lf0_std[d])
        return StatisticalConversion(cfg, domains)
    train = dump.utterances("train")
    domains = {}
    for d in dump.domains:
        utts = sorted((u for u in train if u.domain == d), key=lambda u: u.utt_id)[: max_utts or None]
        sps, lf0s = [], []
        for u in utts:
            try:
                if dump.features_cfg.kind == "world":
                    feats = dump.load(u.utt_id)
                    sp, f0 = feats.feats, feats.f0
                else:
                    from vc.features import world

                    sp, f0, _ = world.analyze(load(u.path, cfg.sample_rate), cfg)
            except VCError as exc:
                if log:
                    log(f"statistical baseline: {u.path} unusable ({str(exc).splitlines()[0]})")
                continue
            sps.append(sp[f0 > 0])
            lf0s.append(np.log(f0[f0 > 0]))
        domains[d] = StatisticalConversion.spectra(
            np.concatenate(sps) if sps else np.zeros((0, cfg.dim)), np.concatenate(lf0s) if lf0s else np.zeros(0), d)
    return StatisticalConversion(cfg, domains)
