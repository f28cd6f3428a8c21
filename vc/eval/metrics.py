"""Objective scores: mel-cepstral distortion, F0 agreement, word error rate, confidence intervals.

Definitions (the README's "Metrics" section says the same for users, docs/metrics.md):

* **Mel-cepstrum.** WORLD's CheapTrick power envelope ``P(ω)`` is turned into the cepstrum of a
  frequency-warped log amplitude: ``ln |H(e^{jω})| = Σ_{m=0..M} c_m cos(m β(ω))`` with the all-pass
  warping ``β(ω) = ω + 2 atan(α sin ω / (1 − α cos ω))``. We sample ``½ ln P`` on a grid uniform in β
  (reading the linear spectrum at ``ω = β`` warped by ``−α``, the inverse all-pass) and take the
  cosine series by an inverse real FFT: the exact form of SPTK's ``freqt`` frequency transform of the
  linear cepstrum, without its truncation of the linear cepstrum.
* **MCD** ``= (10 √2 / ln 10) · mean over DTW-aligned frame pairs of ‖c_{1..M} − c'_{1..M}‖₂`` dB,
  c0 excluded. Silent frames (c0 more than ``silence_db`` below the loudest frame) are dropped from
  each side before DTW (librosa.sequence.dtw, Euclidean cost, steps (1,1), (1,0), (0,1)).
* **F0** over frames voiced in both signals: RMSE of the natural-log F0 difference (raw, and
  "centred" after removing each signal's mean log-F0: the contour shape, free of the intended
  register shift), Pearson correlation of log-F0, and the fraction of frames whose voicing differs.
* **Confidence intervals**: ``mean ± t_{0.975, n−1} · s / √n`` (Student t, sample std ``s``);
  for 0/1 outcomes (domain accuracy) the Wilson score interval.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

#: 10·√2 / ln 10: turns the Euclidean distance of two natural-log cepstra into the RMS log-spectral
#: distance in dB (``20 / ln 10`` nepers→dB times ``√(Σ Δc² / 2)`` by Parseval, written the usual way).
MCD_CONST = 10.0 * math.sqrt(2.0) / math.log(10.0)

#: All-pass constants at common sampling rates. 16 kHz uses 0.42, the value of most VC papers (the
#: mel-scale fit below gives 0.41); the others equal that fit (as pysptk.util.mcepalpha gives them).
ALL_PASS_CONSTANTS = {
    8000: 0.312,
    16000: 0.42,
    22050: 0.455,
    24000: 0.466,
    44100: 0.544,
    48000: 0.554,
}


def warp_frequency(omega: np.ndarray, alpha: float) -> np.ndarray:
    """The first-order all-pass frequency warping ``β(ω)`` (radians, 0..π onto 0..π).

    Warping by ``−alpha`` inverts warping by ``alpha``.
    """
    omega = np.asarray(omega, dtype=np.float64)
    return omega + 2.0 * np.arctan(alpha * np.sin(omega) / (1.0 - alpha * np.cos(omega)))


@functools.lru_cache(maxsize=16)
def all_pass_constant(sample_rate: int) -> float:
    """α for ``sample_rate``: the table value when listed, else the α (in steps of 0.001) whose warping
    best fits the mel scale ``ln(1 + f / 1000)`` from 0 to ``sr / 2`` in the least-squares sense."""
    if sample_rate in ALL_PASS_CONSTANTS:
        return ALL_PASS_CONSTANTS[sample_rate]
    f = np.linspace(0.0, sample_rate / 2.0, 1000)
    mel = np.log1p(f / 1000.0)
    mel /= mel[-1]
    omega = np.pi * f / (sample_rate / 2.0)
    alphas = np.arange(0.0, 0.95, 0.001)
    errors = [np.mean((warp_frequency(omega, a) / np.pi - mel) ** 2) for a in alphas]
    return round(float(alphas[int(np.argmin(errors))]), 3)


def mel_cepstrum(power: np.ndarray, order: int, alpha: float) -> np.ndarray:
    """Mel-cepstrum of power spectra.

    Args:
        power: ``(N, F)`` power spectral envelopes, bins linear from 0 to π (``F = fft_size / 2 + 1``).
        order: M, the highest coefficient.
        alpha: all-pass constant of the warping.

    Returns:
        ``(N, M + 1)`` float64 ``c_0..c_M`` with ``ln|H| = Σ c_m cos(m β)`` (natural-log amplitude).
    """
    power = np.atleast_2d(np.asarray(power, dtype=np.float64))
    bins = power.shape[1]
    if order >= bins - 1:
        raise ValueError(f"mel-cepstrum order {order} needs more than {bins} spectral bins")
    # Where each point of a grid uniform in the warped frequency falls on the linear-frequency grid.
    pos = warp_frequency(np.linspace(0.0, np.pi, bins), -alpha) / np.pi * (bins - 1)
    i0 = np.clip(np.floor(pos).astype(np.int64), 0, bins - 2)
    w = pos - i0
    log_amp = 0.5 * np.log(np.maximum(power, 1e-20))
    warped = log_amp[:, i0] * (1.0 - w) + log_amp[:, i0 + 1] * w
    # For real, even samples X_k = L(πk/K), irfft gives (1/π)∫L(β)cos(mβ)dβ: a_0 for m = 0 and
    # a_m / 2 for m ≥ 1, where L = Σ a_m cos(mβ).
    c = np.fft.irfft(warped, n=2 * (bins - 1), axis=1)[:, : order + 1]
    c[:, 1:] *= 2.0
    return c


def speech_frames(mc: np.ndarray, silence_db: float) -> np.ndarray:
    """Boolean ``(N,)``: frames whose energy ``c0`` (in dB) is within ``silence_db`` of the loudest.

    ``silence_db <= 0`` keeps every frame.
    """
    if silence_db <= 0 or len(mc) == 0:
        return np.ones(len(mc), dtype=bool)
    c0_db = mc[:, 0] * (20.0 / math.log(10.0))
    return c0_db >= c0_db.max() - silence_db


def dtw_path(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Minimum-cost alignment of ``a (N, D)`` and ``b (M, D)`` (Euclidean), as ``(L, 2)`` index pairs
    in time order."""
    import librosa

    _, wp = librosa.sequence.dtw(X=a.T, Y=b.T, metric="euclidean", backtrack=True)
    return np.asarray(wp[::-1], dtype=np.int64)


def mcd(mc_ref: np.ndarray, mc_conv: np.ndarray, silence_db: float = 40.0) -> tuple[float | None, int]:
    """Mel-cepstral distortion in dB between ``(N, M+1)`` and ``(N', M+1)`` mel-cepstra (c0 excluded).

    Returns ``(mcd_db, aligned_frames)``; ``mcd_db`` is None when either side has fewer than 2
    speech frames.
    """
    a = mc_ref[speech_frames(mc_ref, silence_db), 1:]
    b = mc_conv[speech_frames(mc_conv, silence_db), 1:]
    if len(a) < 2 or len(b) < 2:
        return None, 0
    path = dtw_path(a, b)
    dist = np.sqrt(np.sum((a[path[:, 0]] - b[path[:, 1]]) ** 2, axis=1))
    return float(MCD_CONST * dist.mean()), int(len(path))


def align_f0(f0_src: np.ndarray, f0_conv: np.ndarray, mc_src: np.ndarray | None = None,
             mc_conv: np.ndarray | None = None, tolerance: float = 0.02) -> tuple[np.ndarray, np.ndarray, str]:
    """Put two F0 tracks on common frames.

    Equal lengths (our converter keeps the input's length) or lengths within ``tolerance`` (a
    vocoder's padding) are truncated to the shorter; otherwise, given the mel-cepstra, the frames
    are aligned by DTW on them. Returns ``(a, b, how)`` with ``how`` in ``frames``, ``dtw``.
    """
    n, m = len(f0_src), len(f0_conv)
    if abs(n - m) <= max(2, tolerance * max(n, m)) or mc_src is None or mc_conv is None:
        k = min(n, m)
        return f0_src[:k], f0_conv[:k], "frames"
    path = dtw_path(mc_src[:, 1:], mc_conv[:, 1:])
    return f0_src[path[:, 0]], f0_conv[path[:, 1]], "dtw"


def f0_scores(f0_src: np.ndarray, f0_conv: np.ndarray) -> dict[str, float | int | None]:
    """F0 agreement of two aligned ``(N,)`` tracks in Hz (0 = unvoiced).

    Returns ``lf0_rmse`` and ``lf0_rmse_centered`` (natural-log units; × 1731 for cents),
    ``f0_corr`` (Pearson, log-F0), computed over frames voiced in both, plus ``vuv_error`` (fraction
    of all frames whose voicing differs) and ``voiced_frames``. Values are None when fewer than 2
    frames are voiced in both (correlation also when either contour is flat).
    """
    a = np.asarray(f0_src, dtype=np.float64)
    b = np.asarray(f0_conv, dtype=np.float64)
    k = min(len(a), len(b))
    a, b = a[:k], b[:k]
    both = (a > 0) & (b > 0)
    out: dict[str, float | int | None] = {
        "lf0_rmse": None,
        "lf0_rmse_centered": None,
        "f0_corr": None,
        "vuv_error": float(np.mean((a > 0) != (b > 0))) if k else None,
        "voiced_frames": int(both.sum()),
    }
    if both.sum() < 2:
        return out
    la, lb = np.log(a[both]), np.log(b[both])
    d = lb - la
    out["lf0_rmse"] = float(np.sqrt(np.mean(d**2)))
    out["lf0_rmse_centered"] = float(np.sqrt(np.mean((d - d.mean()) ** 2)))
    da, db = la - la.mean(), lb - lb.mean()
    denom = math.sqrt(float(np.sum(da * da)) * float(np.sum(db * db)))
    if denom > 0:
        out["f0_corr"] = float(np.clip(np.sum(da * db) / denom, -1.0, 1.0))
    return out


# --- words ------------------------------------------------------------------------------------------
_NON_WORD = re.compile(r"[^a-z0-9']+")


def normalize_words(text: str) -> list[str]:
    """Lower-case words with punctuation removed (apostrophes kept), for word error rates."""
    return [w.strip("'") for w in _NON_WORD.sub(" ", text.lower()).split() if w.strip("'")]


def word_errors(reference: Sequence[str], hypothesis: Sequence[str]) -> int:
    """Word-level Levenshtein distance: substitutions + deletions + insertions."""
    prev = list(range(len(hypothesis) + 1))
    for i, r in enumerate(reference, 1):
        cur = [i] + [0] * len(hypothesis)
        for j, h in enumerate(hypothesis, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]


def wer(reference: str, hypothesis: str) -> float | None:
    """Word error rate of ``hypothesis`` against ``reference`` after :func:`normalize_words`; None
    for an empty reference."""
    ref = normalize_words(reference)
    if not ref:
        return None
    return word_errors(ref, normalize_words(hypothesis)) / len(ref)


# --- aggregation ------------------------------------------------------------------------------------
def mean_ci(values: Iterable[float | None], level: float = 0.95) -> dict[str, float | int | list | None]:
    """``{"mean", "ci95": [low, high], "n"}`` of the non-None values; Student-t interval, ``ci95`` None
    for fewer than 2 values (``mean`` None for none)."""
    from scipy import stats

    x = np.array([v for v in values if v is not None and np.isfinite(v)], dtype=np.float64)
    n = len(x)
    if n == 0:
        return {"mean": None, "ci95": None, "n": 0}
    mean = float(x.mean())
    if n < 2:
        return {"mean": mean, "ci95": None, "n": 1}
    half = float(stats.t.ppf(0.5 + level / 2, n - 1) * x.std(ddof=1) / math.sqrt(n))
    return {"mean": mean, "ci95": [mean - half, mean + half], "n": n}


def proportion_ci(outcomes: Iterable[float | None], level: float = 0.95) -> dict[str, float | int | list | None]:
    """Like :func:`mean_ci` for 0/1 outcomes, with the Wilson score interval (sensible at 0 and 1)."""
    from scipy import stats

    x = [v for v in outcomes if v is not None]
    n = len(x)
    if n == 0:
        return {"mean": None, "ci95": None, "n": 0}
    p = float(sum(x)) / n
    z = float(stats.norm.ppf(0.5 + level / 2))
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return {"mean": p, "ci95": [max(0.0, centre - half), min(1.0, centre + half)], "n": n}


# --- the scores a report shows -------------------------------------------------------------------------
@dataclass(frozen=True)
class ScoreSpec:
    """One per-utterance score: its key in scores.json, how it is shown, which way is better."""

    key: str
    label: str
    fmt: str
    direction: str
    """``lower``, ``higher`` or ``none`` (informative only)."""
    proportion: bool = False
    """0/1 outcomes: the interval is Wilson's, the value is shown as a percentage."""


SCORES = (
    ScoreSpec("mcd", "MCD (dB)", "{:.2f}", "lower"),
    ScoreSpec("lf0_rmse_centered", "log-F0 RMSE, centred", "{:.3f}", "lower"),
    ScoreSpec("lf0_rmse", "log-F0 RMSE, raw", "{:.3f}", "none"),
    ScoreSpec("f0_corr", "log-F0 correlation", "{:.3f}", "higher"),
    ScoreSpec("vuv_error", "voicing disagreement", "{:.3f}", "lower"),
    ScoreSpec("domain_correct", "domain accuracy", "{:.1%}", "higher", proportion=True),
    ScoreSpec("spk_id_correct", "speaker-ID: target is the closest domain", "{:.1%}", "higher", proportion=True),
    ScoreSpec("spk_sim_target", "speaker similarity to target", "{:.3f}", "higher"),
    ScoreSpec("spk_sim_source", "speaker similarity to source", "{:.3f}", "lower"),
    ScoreSpec("dnsmos", "DNSMOS P.835 overall", "{:.2f}", "higher"),
    ScoreSpec("dnsmos_sig", "DNSMOS P.835 speech signal", "{:.2f}", "higher"),
    ScoreSpec("dnsmos_bak", "DNSMOS P.835 background", "{:.2f}", "higher"),
    ScoreSpec("dnsmos_p808", "DNSMOS P.808 overall", "{:.2f}", "higher"),
    ScoreSpec("wer", "word error rate", "{:.1%}", "lower"),
)


def format_diff(spec: ScoreSpec, value: float) -> str:
    """A signed difference in the score's own format: ``+0.42``, ``-12.5 pts`` for proportions."""
    if spec.proportion:
        return f"{value * 100:+.1f} pts"
    return ("+" if value >= 0 else "") + spec.fmt.format(value)


def summarize(rows: list[dict], specs: Sequence[ScoreSpec] = SCORES) -> dict[str, dict]:
    """``{key: {"mean", "ci95", "n"}}`` over ``rows`` for every score in ``specs``."""
    return {s.key: (proportion_ci if s.proportion else mean_ci)(r.get(s.key) for r in rows) for s in specs}


def compare(rows: list[dict], base_rows: list[dict], specs: Sequence[ScoreSpec] = SCORES) -> dict[str, dict]:
    """Paired differences ``system − baseline`` over the conversions both scored (matched on ``pair``).

    ``{key: {"system", "baseline" (means over the matched pairs), "diff", "ci95" (Student t on the
    paired differences), "n", "better": "system" | "baseline" | "tie"}}`` for every score with a
    direction; "better" goes by the mean difference, "tie" when it is exactly 0.
    """
    by_pair = {r["pair"]: r for r in base_rows}
    out: dict[str, dict] = {}
    for spec in specs:
        if spec.direction == "none":
            continue
        a, b = [], []
        for r in rows:
            other = by_pair.get(r["pair"])
            if other is None or r.get(spec.key) is None or other.get(spec.key) is None:
                continue
            a.append(float(r[spec.key]))
            b.append(float(other[spec.key]))
        if not a:
            continue
        diff = mean_ci(x - y for x, y in zip(a, b))
        if spec.proportion and diff["ci95"] is not None:  # a difference of shares lies within ±1
            diff["ci95"] = [max(diff["ci95"][0], -1.0), min(diff["ci95"][1], 1.0)]
        d = diff["mean"]
        sign = 1.0 if spec.direction == "higher" else -1.0
        better = "tie" if d == 0 else ("system" if d * sign > 0 else "baseline")
        out[spec.key] = {"system": float(np.mean(a)), "baseline": float(np.mean(b)), "diff": d,
                         "ci95": diff["ci95"], "n": diff["n"], "better": better}
    return out


def compare_by_pair(rows: list[dict], base_rows: list[dict], specs: Sequence[ScoreSpec] = SCORES) -> list[dict]:
    """:func:`compare` within each ordered domain pair: ``[{"src", "tgt", "scores"}]``, one entry per
    ``(src_domain, tgt_domain)`` of ``rows`` in their first-seen order; ``scores`` as :func:`compare`
    returns it for that pair's conversions alone (a voice pair the model converts worse than the
    baseline can hide in the overall mean)."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        groups.setdefault((r["src_domain"], r["tgt_domain"]), []).append(r)
    return [{"src": s, "tgt": t, "scores": compare(group, base_rows, specs)} for (s, t), group in groups.items()]


def behind(comparison: dict) -> bool:
    """Whether one :func:`compare` entry has the baseline ahead with a 95% interval that excludes a tie."""
    ci = comparison.get("ci95")
    return comparison.get("better") == "baseline" and bool(ci) and not ci[0] <= 0.0 <= ci[1]


def verdict_baseline(scores: dict, key: str = "comparison", baseline: str = "statistical") -> str | None:
    """The baseline a verdict weighs: ``baseline`` when ``scores[key]`` has it, else the first there."""
    comparison = scores.get(key) or {}
    return baseline if baseline in comparison else next(iter(comparison), None)
