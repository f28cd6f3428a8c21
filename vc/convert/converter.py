"""Conversion with a trained checkpoint: ``conv = vc.load(ckpt); wav, sr = conv(src, target="p225")``.

Pipeline per window: audio → features (the checkpoint's FeatureConfig) → normalise → generator (EMA
copy) with a style from the mapping network (``target``) or the style encoder (``ref``) →
vocoder → waveform. Long inputs are cut into overlapping windows of ``window_seconds`` that are
converted one by one and joined by linear cross-fades, so memory stays bounded whatever the length.
The output has exactly the input's length, its loudness (RMS) is matched to the input, and its peak
is kept below full scale.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vc.errors import CheckpointError, ConfigError, VCError
from vc.features.config import FeatureConfig
from vc.vocoders import default_vocoder_name, get_vocoder

#: Conversion accepts much longer inputs than training; beyond this a file is refused outright.
MAX_CONVERT_SECONDS = 3 * 3600.0
#: A source of unknown domain is described (statistical base) by the moments of its first 30 s.
MOMENT_SECONDS = 30.0


def resolve_checkpoint(ckpt: str | os.PathLike | None) -> Path:
    """``ckpt``, else ``$VC_CKPT``, else the newest checkpoint under ``./exp/``."""
    from vc.train.checkpoint import find_default_checkpoint

    if ckpt:
        return Path(ckpt)
    env = os.environ.get("VC_CKPT")
    if env:
        return Path(env)
    found = find_default_checkpoint("exp")
    if found is None:
        raise CheckpointError(
            "no checkpoint given and none found under ./exp/; pass --ckpt PATH or set VC_CKPT=PATH "
            "(train one with vc-train CONF)"
        )
    return found


def _crossfade_join(chunks: list[np.ndarray], starts: list[int], total: int, overlap: int) -> np.ndarray:
    """Overlap-add ``chunks`` placed at ``starts`` with linear fades over ``overlap`` samples."""
    out = np.zeros(total, dtype=np.float64)
    weight = np.zeros(total, dtype=np.float64)
    for chunk, start in zip(chunks, starts):
        n = min(len(chunk), total - start)
        w = np.ones(n)
        if overlap > 0:
            ramp = np.linspace(0.0, 1.0, overlap + 2)[1:-1]
            if start > 0:
                w[: min(overlap, n)] = ramp[: min(overlap, n)]
            if start + n < total:
                w[-min(overlap, n):] = ramp[::-1][-min(overlap, n):]
        out[start : start + n] += chunk[:n] * w
        weight[start : start + n] += w
    return (out / np.maximum(weight, 1e-8)).astype(np.float32)


def _rms(wav: np.ndarray) -> float:
    """RMS over the louder frames, so long pauses don't dominate the loudness match."""
    frame = 1024
    n = len(wav) // frame
    if n < 2:
        return float(np.sqrt(np.mean(wav.astype(np.float64) ** 2)) + 1e-12)
    energies = np.mean(wav[: n * frame].astype(np.float64).reshape(n, frame) ** 2, axis=1)
    active = energies[energies >= np.percentile(energies, 50)]
    return float(np.sqrt(np.mean(active)) + 1e-12)


def match_loudness(out: np.ndarray, like: np.ndarray) -> np.ndarray:
    """``out`` cut or zero-padded to the length of ``like``, scaled to its RMS (over the louder frames),
    peak kept below 0.99: what every conversion (and every baseline of ``vc-eval``) ends with."""
    out = np.asarray(out, dtype=np.float32)
    if len(out) < len(like):
        out = np.pad(out, (0, len(like) - len(out)))
    out = out[: len(like)] * (_rms(like) / _rms(out))
    peak = float(np.max(np.abs(out))) if len(out) else 0.0
    return (out * (0.99 / peak) if peak > 0.99 else out).astype(np.float32)


#: A reference clip needs this many voiced frames for its own pitch and feature statistics.
MIN_VOICED_FRAMES = 20


@dataclass
class Voice:
    """What a conversion to the voice of a clip takes from the clip itself, beside its style code:
    its log-F0 mean and standard deviation (natural log of Hz, voiced frames), its feature moments
    ``mean``, ``std (1, Q)`` (normalised features, voiced frames) for the statistical base, and its
    frames for the kNN base."""

    lf0_mean: float
    lf0_std: float
    mean: torch.Tensor
    std: torch.Tensor
    frames: torch.Tensor | None = None
    """The clip's normalised frames ``(M, Q)``: the kNN base's pool for its voice."""
    voiced: torch.Tensor | None = None
    """``(M,)`` bool, which of ``frames`` are voiced."""
    lf0z: torch.Tensor | None = None
    """``(M,)`` the frames' log-F0 z-scored by ``lf0_mean``/``lf0_std`` (0 unvoiced): their intonation."""


@dataclass
class Style:
    """A style vector (or target code) and the domain whose generator branch it belongs to.

    ``target`` is -1 and ``voice`` set for the voice of a reference clip on a model with a shared
    style head (any-to-any): pitch and feature statistics then come from the clip, not a domain."""

    vector: torch.Tensor
    target: int
    voice: Voice | None = None


class Converter:
    """Converts audio with the EMA nets of one checkpoint. Build it with :func:`vc.load`."""

    def __init__(self, state: dict, vocoder: str | None = None, device: str | None = None,
                 window_seconds: float = 10.0, overlap_seconds: float = 0.5, strength: float = 1.0,
                 silence_gate_db: float | None = None, source_band_hz: float | None = None) -> None:
        from vc.config import config_from_dict
        from vc.features.stats import Stats
        from vc.models import get_family

        self.path = Path(state.get("path", "checkpoint"))
        self.cfg = config_from_dict(state["config"])
        self.features: FeatureConfig = self.cfg.features
        self.domains: list[str] = list(state["domains"])
        self.stats = Stats.from_dict(state["stats"])
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.family = get_family(self.cfg.model.name)
        if strength != 1.0 and not self.family.has_strength:
            raise ConfigError(f"--strength applies to stargan_v2 only, not to {self.cfg.model.name}")
        if not 0.0 <= strength <= 2.0:
            raise ConfigError(f"strength must be between 0 and 2, got {strength:g}")
        self.strength = float(strength)
        self.gate_db = self.cfg.vocoder.silence_gate_db if silence_gate_db is None else float(silence_gate_db)
        if self.gate_db < 0:
            raise ConfigError(f"the silence gate must be >= 0 dB (0: off), got {self.gate_db:g}")
        built = self.family.build(self.cfg, self.features.dim, len(self.domains))
        nets = {}
        for name, net in built.items():
            source = state["ema"].get(name) if name in state.get("ema", {}) else state["nets"].get(name)
            if source is None:
                raise CheckpointError(f"{self.path}: has no weights for {name}")
            try:
                net.load_state_dict(source)
            except RuntimeError as exc:
                raise CheckpointError(f"{self.path}: {name} weights do not fit ({str(exc).splitlines()[0]})") from None
            nets[name] = net.to(self.device).eval().requires_grad_(False)
        self.nets = nets
        exp_dir = self.path.parent.parent if self.path.parent.name == "checkpoints" else self.path.parent
        self.vocoder_name = vocoder or default_vocoder_name(self.cfg, exp_dir)
        self.vocoder = get_vocoder(self.vocoder_name, self.features, self.stats, device=str(self.device),
                                   griffinlim_iters=self.cfg.vocoder.griffinlim_iters)
        self.source_band_hz = self.cfg.vocoder.source_band_hz if source_band_hz is None else float(source_band_hz)
        if self.source_band_hz < 0:
            raise ConfigError(f"the source band must start at >= 0 Hz (0: off), got {self.source_band_hz:g}")
        if self.source_band_hz > 0 and self.vocoder_name != "world":
            raise ConfigError(f"vocoder.source_band_hz works with the world vocoder only, not {self.vocoder_name}")
        if self.source_band_hz >= self.sample_rate / 2:
            raise ConfigError(f"vocoder.source_band_hz must be below the Nyquist frequency "
                              f"({self.sample_rate // 2} Hz), got {self.source_band_hz:g}")
        hop = self.features.hop
        sr = self.features.sample_rate
        self.window = max(hop * 32, int(window_seconds * sr) // hop * hop)
        self.overlap = min(self.window // 4, max(hop * 4, int(overlap_seconds * sr) // hop * hop))

    @property
    def sample_rate(self) -> int:
        return self.features.sample_rate

    # ------------------------------------------------------------------ styles
    def domain_index(self, name: str, what: str = "target") -> int:
        """Index of domain ``name``; an unknown one is a ConfigError that names ``what`` it was given as."""
        if name not in self.domains:
            raise ConfigError(f"unknown {what} {name!r}; available domains: {', '.join(self.domains)}")
        return self.domains.index(name)

    def _load(self, audio: str | os.PathLike | np.ndarray, sr: int | None, what: str) -> np.ndarray:
        from vc.audio import load as load_audio

        if isinstance(audio, (str, os.PathLike)):
            return load_audio(audio, self.sample_rate, max_duration=MAX_CONVERT_SECONDS)
        wav = np.asarray(audio, dtype=np.float32)
        if wav.ndim != 1:
            raise VCError(f"{what}: expected a 1-D waveform, got shape {wav.shape}")
        if not np.isfinite(wav).all():
            raise VCError(f"{what}: waveform contains NaN or Inf")
        if sr is None:
            raise VCError(f"{what}: pass sr= with a raw waveform")
        if sr != self.sample_rate:
            import librosa

            wav = librosa.resample(wav, orig_sr=sr, target_sr=self.sample_rate).astype(np.float32)
        return wav

    def _feature_image(self, wav: np.ndarray):
        from vc.features import extract

        feats = extract(wav, self.features)
        x = torch.from_numpy(self.stats.normalize(feats.feats).T.copy()).float()[None, None]
        return feats, x.to(self.device)

    @torch.no_grad()
    def judge(self, ref: str | os.PathLike | np.ndarray, sr: int | None = None) -> str:
        """The domain the model judges most likely for a reference clip."""
        wav = self._load(ref, sr, "reference")
        _, x = self._feature_image(wav[: 20 * self.sample_rate])
        return self.domains[self._judged(x)]

    def _judged(self, x: torch.Tensor) -> int:
        """Index of the domain the model judges most likely for the feature image ``x (1, 1, Q, N)``."""
        return int(torch.as_tensor(self.family.judge_domain(self.nets, x)).argmax())

    @property
    def any_to_any(self) -> bool:
        """Whether a reference clip of any speaker gives a style of its own (a shared style head)."""
        return self.family.has_style_encoder and getattr(self.cfg.model, "style_head", "domain") == "shared"

    def voice(self, wav: np.ndarray, name: str = "reference", analysed=None) -> Voice:
        """The pitch and feature statistics of a clip (its first 20 s), for conversion to its voice;
        ``analysed``: that part's ``_feature_image`` when already computed."""
        from vc.models.moments import clip_moments

        feats, x = analysed or self._feature_image(wav[: 20 * self.sample_rate])
        voiced = feats.f0 > 0
        if int(voiced.sum()) < MIN_VOICED_FRAMES:
            raise VCError(f"{name}: too little voiced speech ({int(voiced.sum())} voiced frames, need "
                          f"{MIN_VOICED_FRAMES}) to read the voice's pitch")
        lf0 = np.log(feats.f0[voiced])
        mu, sd = float(lf0.mean()), max(float(lf0.std()), 1e-3)
        lf0z = np.zeros(len(voiced), dtype=np.float32)
        lf0z[voiced] = (lf0 - mu) / sd
        mean, std = clip_moments(x, torch.from_numpy(voiced))
        return Voice(mu, sd, mean.cpu(), std.cpu(), x[0, 0].T.float().cpu(), torch.from_numpy(voiced),
                     torch.from_numpy(lf0z))

    @torch.no_grad()
    def style(self, target: str | None = None, ref=None, sr: int | None = None, seed: int | None = None) -> Style:
        """A style from the mapping network (``target``) or the style encoder (``ref``).

        On a model with a shared style head (:attr:`any_to_any`), ``ref`` without ``target`` is the
        voice of the clip itself, whoever speaks it; with per-domain heads the clip is read through
        the head of ``target``, or of the domain the discriminator judges most likely."""
        if ref is None and target is None:
            raise ConfigError("give a target domain or a reference clip")
        if ref is not None and not self.family.has_style_encoder:
            raise ConfigError(
                f"--ref needs a style encoder; model family {self.cfg.model.name} has none (use --target)"
            )
        tgt = self.domain_index(target) if target is not None else None
        if ref is None:
            gen = torch.Generator().manual_seed(int(seed) if seed is not None else int(torch.randint(0, 2**31, (1,))))
            z = torch.randn(1, self.cfg.model.latent_dim, generator=gen).to(self.device)
            return Style(self.family.style(self.nets, tgt, z=z), tgt)
        wav = self._load(ref, sr, "reference")
        analysed = self._feature_image(wav[: 20 * self.sample_rate])  # read once for all that follows
        x = analysed[1]
        if tgt is None and self.any_to_any:
            name = str(ref) if isinstance(ref, (str, os.PathLike)) else "reference"
            return Style(self.family.style(self.nets, 0, ref=x), -1, self.voice(wav, name, analysed))
        if tgt is None:
            tgt = self._judged(x)
        return Style(self.family.style(self.nets, tgt, ref=x), tgt)

    # ------------------------------------------------------------------ conversion
    def _f0_norm(self, f0: np.ndarray, source: str | None) -> np.ndarray:
        """Source log-F0 z-scored by the source domain's statistics, or the clip's own if unknown."""
        if source is not None:
            return self.stats.f0_normalized(f0, source)
        voiced = f0 > 0
        out = np.zeros_like(f0, dtype=np.float32)
        if voiced.sum() >= 2:
            lf0 = np.log(f0[voiced])
            out[voiced] = (lf0 - lf0.mean()) / max(lf0.std(), 1e-3)
        return out

    def target_lf0(self, style: Style) -> tuple[float, float]:
        """Log-F0 mean and standard deviation of the voice ``style`` converts to: its reference
        clip's own (any-to-any), else its domain's training statistics."""
        if style.voice is not None:
            return style.voice.lf0_mean, style.voice.lf0_std
        target = self.domains[style.target]
        return self.stats.lf0_mean[target], self.stats.lf0_std[target]

    def target_moments(self, style: Style) -> tuple[torch.Tensor, torch.Tensor]:
        """Feature moments ``(1, Q)`` each that the statistical base moves a source to, for ``style``."""
        if style.voice is not None:
            return style.voice.mean, style.voice.std
        return self.nets["moments"](torch.tensor([style.target]))

    def _map_f0(self, f0: np.ndarray, source: str | None, style: Style,
                intonation: np.ndarray | None = None) -> np.ndarray:
        """Source F0 (Hz) moved, as log-Gaussians, from the source's statistics (its domain's, or the
        clip's own when unknown) to the target voice's (:meth:`target_lf0`). With ``intonation`` (the
        target's z-scored log-F0 along the clip, from the kNN base's matches), a share
        ``model.knn_intonation`` of the source's z-scored contour is replaced by it first."""
        if intonation is not None:
            share = self.cfg.model.knn_intonation
            z = self._f0_norm(f0, source)
            z = (1.0 - share) * z + share * intonation[: len(z)]
            mu_t, sd_t = self.target_lf0(style)
            return np.where(f0 > 0, np.exp(z * sd_t + mu_t), 0.0).astype(np.float32)
        if source is not None and style.voice is None:
            return self.stats.convert_f0(f0, source, self.domains[style.target])
        voiced = f0 > 0
        out = np.zeros_like(f0)
        if voiced.sum() < 2:
            return out
        lf0 = np.log(f0[voiced])
        if source is not None:
            mu_s, sd_s = self.stats.lf0_mean[source], self.stats.lf0_std[source]
        else:
            mu_s, sd_s = float(lf0.mean()), max(float(lf0.std()), 1e-3)
        mu_t, sd_t = self.target_lf0(style)
        out[voiced] = np.exp((lf0 - mu_s) / sd_s * sd_t + mu_t)
        return out

    @torch.no_grad()
    def _clip_shift(self, wav: np.ndarray, style: Style, source: str | None = None):
        """The statistical base's shift: from the source domain's moments (``source``), else from the
        clip's own (voiced frames of its first :data:`MOMENT_SECONDS`), to the target's
        (:meth:`target_moments`)."""
        from vc.models.moments import clip_moments

        if source is not None:
            mean, std = self.nets["moments"](torch.tensor([self.domains.index(source)]))
        else:
            feats, x = self._feature_image(wav[: int(MOMENT_SECONDS * self.sample_rate)])
            mean, std = clip_moments(x, torch.from_numpy(feats.f0 > 0))
        tgt_mean, tgt_std = self.target_moments(style)
        return self.nets["moments"].between(mean, std, tgt_mean, tgt_std)

    def gate(self, y: np.ndarray, source: np.ndarray, reference: float | None = None) -> np.ndarray:
        """Converted normalised frames ``y (N, Q)`` through the silence gate keyed by the source's
        normalised frames ``source (N, Q)`` (unchanged when the gate is off); ``reference``: the loud
        level in dB, default the 95th percentile of the source's frame levels."""
        if self.gate_db <= 0:
            return y
        from vc.features.gate import silence_gate

        raw = silence_gate(self.stats.denormalize(y), self.stats.denormalize(source), self.features, self.gate_db,
                           self.cfg.vocoder.silence_gate_ratio, reference)
        return self.stats.normalize(raw).astype(y.dtype, copy=False)

    def gate_reference(self, source: np.ndarray) -> float:
        """The silence gate's loud level (dB) of normalised source frames ``(N, Q)``."""
        from vc.features.gate import frame_levels, reference_level

        return reference_level(frame_levels(self.stats.denormalize(source), self.features))

    def convert_kwargs(self, style: Style | None = None) -> dict:
        """Extra keyword arguments of ``family.convert``: ``strength`` when it is not 1, and on the kNN
        base the frames of ``style``'s reference clip when it converts to that clip's own voice."""
        kwargs: dict = {"strength": self.strength} if self.strength != 1.0 else {}
        if style is not None and style.voice is not None and "pool" in self.nets:
            kwargs["pool"] = (style.voice.frames, style.voice.voiced)
            if style.voice.lf0z is not None:
                kwargs["pool"] += (style.voice.lf0z,)
        return kwargs

    def wants_intonation(self, style: Style) -> bool:
        """Whether conversion with ``style`` mixes the target's intonation into the F0: ``model.knn_intonation``
        above 0 on a kNN base whose pool (the checkpoint's, or the reference clip's) kept its pitch."""
        if self.cfg.model.knn_intonation <= 0.0 or "pool" not in self.nets:
            return False
        return style.voice.lf0z is not None if style.voice is not None else self.nets["pool"].has_intonation

    @torch.no_grad()
    def _convert_window(self, wav: np.ndarray, style: Style, source: str | None, shift=None) -> np.ndarray:
        feats, x = self._feature_image(wav)
        f0n = torch.from_numpy(self._f0_norm(feats.f0, source)).float()[None].to(self.device)
        if source is not None:
            src_idx = self.domains.index(source)
        elif self.family.needs_source:
            src_idx = int(torch.as_tensor(self.family.judge_domain(self.nets, x)).argmax())
        else:
            src_idx = -1  # the family does not use it
        kwargs = self.convert_kwargs(style)
        intonation = None
        if self.wants_intonation(style):
            y, z = self.family.convert(self.nets, x, f0n, src_idx, style.target, style.vector, shift=shift,
                                       intonation=True, **kwargs)
            intonation = z[0].float().cpu().numpy()
        else:
            y = self.family.convert(self.nets, x, f0n, src_idx, style.target, style.vector, shift=shift, **kwargs)
        y = self.gate(y[0, 0].float().cpu().numpy().T, x[0, 0].cpu().numpy().T)
        f0 = self._map_f0(feats.f0, source, style, intonation)
        out = np.asarray(self.vocoder(y, f0=f0, ap=feats.ap), dtype=np.float32)
        if self.source_band_hz > 0:
            from vc.vocoders.source_band import source_band

            out = source_band(out, wav, self.stats.denormalize(y), f0, self.features, self.source_band_hz)
        if len(out) < len(wav):
            out = np.pad(out, (0, len(wav) - len(out)))
        return out[: len(wav)]

    @torch.no_grad()
    def convert(self, wav: np.ndarray, style: Style, source: str | None = None) -> np.ndarray:
        """Convert a waveform at ``self.sample_rate`` with ``style``; same length as the input."""
        if source is not None:
            self.domain_index(source, "source domain")
        # One shift for the whole input, so the windows of a long file agree.
        shift = None
        if "moments" in self.nets and (source is None or style.voice is not None):
            shift = self._clip_shift(wav, style, source)
        total = len(wav)
        if total <= self.window:
            out = self._convert_window(wav, style, source, shift)
        else:
            step = self.window - self.overlap
            starts = list(range(0, max(total - self.overlap, 1), step))
            chunks = [self._convert_window(wav[s : s + self.window], style, source, shift) for s in starts]
            out = _crossfade_join(chunks, starts, total, self.overlap)
        return match_loudness(out, wav)

    def __call__(self, wav_or_path, sr: int | None = None, target: str | None = None, ref=None,
                 seed: int | None = None, source: str | None = None) -> tuple[np.ndarray, int]:
        """Convert ``wav_or_path`` to ``target`` (mapping network) or to the voice of ``ref``.

        On a model with a shared style head, ``ref`` alone converts to the voice of that clip, a
        speaker never trained on included: its style code, and its own pitch and feature statistics.
        Returns ``(wav, sample_rate)``. ``source`` (a domain name) is optional: when given, F0 is
        normalised with that domain's statistics; otherwise with the clip's own.
        """
        wav = self._load(wav_or_path, sr, "source")
        style = self.style(target=target, ref=ref, sr=sr, seed=seed)
        return self.convert(wav, style, source=source), self.sample_rate


def load(ckpt: str | os.PathLike | None = None, vocoder: str | None = None, device: str | None = None,
         strength: float = 1.0, silence_gate_db: float | None = None,
         source_band_hz: float | None = None) -> Converter:
    """Load a checkpoint for conversion (``ckpt`` defaults to ``$VC_CKPT``, else the newest under ./exp/).

    ``strength`` (StarGAN v2) scales the generator's change to its input: 1 (default) converts fully,
    0 gives the base's conversion on a ``generator_base: statistical``, ``warped`` or ``knn`` model
    (else the source). ``silence_gate_db`` overrides the checkpoint's ``vocoder.silence_gate_db`` (0: off),
    ``source_band_hz`` its ``vocoder.source_band_hz`` (0: off).
    """
    from vc.train.checkpoint import load_checkpoint

    path = resolve_checkpoint(ckpt)
    state = load_checkpoint(path, map_location="cpu")
    return Converter(state, vocoder=vocoder, device=device, strength=strength, silence_gate_db=silence_gate_db,
                     source_band_hz=source_band_hz)
