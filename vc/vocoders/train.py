"""``vc-train-vocoder``: train a neural vocoder with parallel-wavegan on the experiment's own features.

:func:`train_vocoder` does four things, so that a vocoder hears exactly the features the models are
trained on and produce:

1. **Export** the prepared dump (``data.dump_dir``, mel features only) into the layout
   parallel-wavegan's trainer reads::

       <out>/dump/{train,dev}/norm/<utt_id>.h5   "wave" (T,) float32, T = N * hop
                                                 "feats" (N, Q) float32, NORMALISED with stats.h5
       <out>/stats.h5                            copied from the dump (already parallel-wavegan's format)

   The audio is read again exactly as ``vc-prep`` read it (``vc.audio.load`` at the feature rate,
   silence-trimmed with the settings recorded in the feature cache) and cut to ``N * hop`` samples
   (edge-padded first), as parallel-wavegan's ``preprocess`` does. Exported files remember what they
   were made from and are reused while that holds.
2. **Write** ``<out>/config.yml``: a feature section generated from ``features:`` (never copied by
   hand), a model section from :mod:`vc.vocoders.templates` (``vocoder.generator``, ``vocoder.size``),
   the step/batch settings of ``vocoder:``, ``vocoder.pwg_overrides`` merged on top, and our
   FeatureConfig with its fingerprint under ``vc_features`` (parallel-wavegan ignores unknown keys
   and keeps them when it rewrites the file).
3. **Train** with parallel-wavegan's own trainer in a subprocess (``python -m
   vc.vocoders.run_pwg_train``, which installs the SciPy alias first), its output streamed to the
   console and to ``<out>/train.log``; ``resume=True`` continues from the newest checkpoint.
4. **Record** the result as the experiment's default vocoder: ``<train.out_dir>/default_vocoder.json``
   = ``{"name": "pwg:<absolute out dir>"}``, which :func:`vc.vocoders.default_vocoder_name` (and
   so conversion) reads when ``vocoder.name`` is empty.

The result directory (``config.yml``, ``stats.h5``, ``checkpoint-<steps>steps.pkl``) is what
``--vocoder pwg:<dir>`` loads.

With ``vocoder.finetune_on_generator`` a fifth step follows (:func:`finetune_on_generator`): the
newest conversion checkpoint in ``train.out_dir`` reconstructs every train/dev utterance in its own
voice (style from the style encoder on the utterance itself, or the domain code for families without
one: *teacher-forced*, so the frames line up with the real audio), those generated features are
exported beside the real audio to ``<out>/finetune/dump/``, and parallel-wavegan's trainer continues
from the trained vocoder's weights (``--pretrain``) for ``vocoder.finetune_steps`` steps into
``<out>/finetune``, which then becomes the experiment's default vocoder.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np
import yaml

from vc.errors import ConfigError, DataError, TrainingError
from vc.io import atomic_path, write_text_atomic
from vc.vocoders.pwg import check_pwg_dir, checkpoint_steps
from vc.vocoders.registry import write_default_vocoder
from vc.vocoders.templates import FEATURE_KEYS, deep_merge, feature_section, model_section

if TYPE_CHECKING:
    from vc.config import ExperimentConfig
    from vc.data.dump import Dump, Utterance

SPLITS = ("train", "dev")
# Keys of the generated YAML that have their own ``vocoder:`` field (or are set by the trainer).
_OWN_KEYS = {
    "train_max_steps": "vocoder.train_steps",
    "batch_size": "vocoder.batch_size",
    "batch_max_steps": "vocoder.batch_max_steps",
    "save_interval_steps": "vocoder.save_every",
    "eval_interval_steps": "vocoder.eval_every",
    "log_interval_steps": "vocoder.log_every",
    "num_workers": "vocoder.num_workers",
    "vc_features": "features",
}


# --- config ----------------------------------------------------------------------------------------
def pwg_config(cfg: ExperimentConfig) -> dict[str, Any]:
    """The parallel-wavegan YAML (as a dict) for ``cfg``'s features and ``vocoder:`` section.

    Raises:
        ConfigError: world features, an unknown generator/size, an override of a generated key,
            a segment length that is not a multiple of the hop or too short for the losses.
    """
    v, features = cfg.vocoder, cfg.features
    for name, value in (("train_steps", v.train_steps), ("finetune_steps", v.finetune_steps),
                        ("batch_size", v.batch_size), ("save_every", v.save_every),
                        ("log_every", v.log_every)):  # fmt: skip
        if value < 1:
            raise ConfigError(f"vocoder.{name} must be at least 1, got {value}")
    if v.eval_every < 0:
        raise ConfigError(f"vocoder.eval_every must be 0 (at the end only) or more, got {v.eval_every}")
    hop = features.hop_size
    if v.batch_max_steps % hop or v.batch_max_steps <= 0:
        lower = max(hop, v.batch_max_steps // hop * hop)
        raise ConfigError(
            f"vocoder.batch_max_steps {v.batch_max_steps} is not a positive multiple of the hop "
            f"(features.hop_size {hop}); use {lower} or {lower + hop}"
        )
    section = feature_section(features)  # refuses world features
    bad = sorted(k for k in v.pwg_overrides if k in FEATURE_KEYS or k in _OWN_KEYS)
    if bad:
        where = ", ".join(f"{k} (set {_OWN_KEYS[k]})" if k in _OWN_KEYS else f"{k} (from features:)" for k in bad)
        raise ConfigError(f"vocoder.pwg_overrides cannot set {where}")

    import torch

    config = {
        **section,
        **model_section(v.generator, v.size, features, v.train_steps),
        "batch_size": v.batch_size,
        "batch_max_steps": v.batch_max_steps,
        "pin_memory": torch.cuda.is_available(),
        "num_workers": v.num_workers,
        # Clips shorter than one training segment are skipped (a batch of them would be empty).
        "remove_short_samples": True,
        # Caching every clip in memory does not scale to a full corpus; workers read the HDF5 files.
        "allow_cache": False,
        "train_max_steps": v.train_steps,
        "save_interval_steps": v.save_every,
        "eval_interval_steps": v.eval_every or v.train_steps,
        "log_interval_steps": v.log_every,
        "num_save_intermediate_results": 4,
    }
    config = deep_merge(config, v.pwg_overrides)
    _check_model(config, features.hop_size)
    config["vc_features"] = {"config": features.to_dict(), "fingerprint": features.fingerprint()}
    return config


def _check_model(config: dict[str, Any], hop: int) -> None:
    """Catch what parallel-wavegan would only report with an assertion deep in a subprocess."""
    gp = config["generator_params"]
    scales = gp.get("upsample_scales") or (gp.get("upsample_params") or {}).get("upsample_scales") or []
    factor = int(np.prod(scales)) * int(gp.get("out_channels", 1))
    if scales and factor != hop:
        raise ConfigError(
            f"vocoder generator upsamples by {factor} (upsample_scales {list(scales)}"
            f"{' x ' + str(gp.get('out_channels')) + ' bands' if gp.get('out_channels', 1) > 1 else ''}), "
            f"but features.hop_size is {hop}"
        )
    if config.get("generator_type") == "MelGANGenerator" and gp.get("channels", 0) < int(np.prod(scales)):
        raise ConfigError(
            f"vocoder MelGAN generator: channels {gp.get('channels')} must be at least the upsampling "
            f"factor {int(np.prod(scales))}"
        )
    # Every STFT in the losses reflect-pads by half its FFT size, which must fit in one segment.
    segment = config["batch_max_steps"]
    ffts = []
    if config.get("use_stft_loss", True):
        ffts.append((max(config["stft_loss_params"]["fft_sizes"]), segment))
    if config.get("use_mel_loss", False):
        ffts.append((config["mel_loss_params"]["fft_size"], segment))
    if config.get("use_subband_stft_loss", False):
        ffts.append((max(config["subband_stft_loss_params"]["fft_sizes"]), segment // gp["out_channels"]))
    for fft, length in ffts:
        if length <= fft // 2:
            raise ConfigError(
                f"vocoder.batch_max_steps {segment} is too short for the training losses (an FFT of "
                f"{fft} needs segments over {fft // 2 * segment // length} samples)"
            )


# --- export ----------------------------------------------------------------------------------------
def _digest(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a, dtype=np.float64).tobytes())
    return h.hexdigest()[:16]


def prepared_audio(dump: Dump, utt: Utterance) -> np.ndarray:
    """The audio of ``utt`` as ``vc-prep`` fed it to feature extraction: ``(T,)`` float32.

    Loaded at the feature sampling rate and silence-trimmed with the settings recorded in the
    utterance's feature cache (``source_key``), so a changed ``data.trim_top_db`` does not matter.

    Raises:
        DataError: the cache records no source, or the file changed since ``vc-prep``.
    """
    from vc.audio import load
    from vc.data.dump import cache_meta

    cache = dump.cache_path(utt.utt_id)
    key = (cache_meta(cache) or {}).get("source_key")
    if not isinstance(key, dict):
        raise DataError(f"{cache}: feature cache records no source audio; re-run vc-prep")
    path = Path(utt.path)
    if path.is_file():
        st = path.stat()
        if (st.st_size, st.st_mtime_ns) != (key.get("size"), key.get("mtime_ns")):
            raise DataError(f"{path}: audio changed since vc-prep made {cache}; re-run vc-prep")
    wav = load(path, dump.features_cfg.sample_rate)
    if key.get("trim"):
        # The same call as vc.data.prep (librosa's default frame settings), with the recorded threshold.
        import librosa

        wav, _ = librosa.effects.trim(wav, top_db=key["trim_top_db"])
    return wav


def _write_pair(path: Path, wave: np.ndarray, feats: np.ndarray, attrs: dict[str, str]) -> None:
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as h5:
        h5.create_dataset("wave", data=wave.astype(np.float32))
        h5.create_dataset("feats", data=feats.astype(np.float32))
        for key, value in attrs.items():
            h5.attrs[key] = value


def _stored_attrs(path: Path) -> dict[str, str]:
    try:
        with h5py.File(path, "r") as h5:
            return {k: str(v) for k, v in h5.attrs.items()}
    except OSError:
        return {}


def export_dump(
    cfg: ExperimentConfig,
    out_dir: str | Path,
    progress: bool = True,
    feats_fn: Callable[[Utterance, np.ndarray], np.ndarray] | None = None,
    source_tag: str = "",
) -> dict[str, list[int]]:
    """Write ``<out_dir>/dump/{train,dev}/norm/*.h5`` and ``<out_dir>/stats.h5`` from ``data.dump_dir``.

    ``feats_fn(utt, normalised_feats) -> (N, Q)`` replaces the real features with others of the same
    length (the generator's, for fine-tuning); ``source_tag`` names that source so that exported files
    are only reused while it holds.

    Returns:
        ``{split: [frame count of each exported utterance]}``.

    Raises:
        DataError: not a prepared dump, an empty split, audio that no longer matches its features.
        FingerprintError: the dump was made with other feature settings. ConfigError: world features.
    """
    from vc.data.dump import Dump
    from vc.data.readers import expand

    feature_section(cfg.features)  # refuses world features before any work
    dump = Dump(expand(cfg.data.dump_dir), cfg.features)
    stats = dump.stats
    hop = cfg.features.hop_size
    out_dir = Path(out_dir)
    source_stats = dump.dir / "stats.h5"
    with atomic_path(out_dir / "stats.h5") as tmp:
        shutil.copyfile(source_stats, tmp)
    stats_digest = _digest(stats.mean, stats.scale)
    frames: dict[str, list[int]] = {}
    for split in SPLITS:
        utts = dump.utterances(split)
        if not utts:
            raise DataError(
                f"{dump.dir}: the {split} split is empty; the vocoder trainer needs both train and dev "
                "utterances (data.dev_per_domain >= 1, then re-run vc-prep)"
            )
        norm_dir = out_dir / "dump" / split / "norm"
        norm_dir.mkdir(parents=True, exist_ok=True)
        keep = {f"{u.utt_id}.h5" for u in utts}
        for stale in norm_dir.glob("*.h5"):  # utterances no longer in this split: the trainer globs *.h5
            if stale.name not in keep:
                stale.unlink()
        reused = 0
        frames[split] = []
        for i, utt in enumerate(utts, 1):
            target = norm_dir / f"{utt.utt_id}.h5"
            cache = dump.cache_path(utt.utt_id)
            attrs = {
                "fingerprint": dump.fingerprint,
                "stats": stats_digest,
                "cache_mtime_ns": str(cache.stat().st_mtime_ns if cache.is_file() else 0),
                "source": source_tag,
            }
            stored = _stored_attrs(target) if target.is_file() else {}
            if all(stored.get(k) == v for k, v in attrs.items()) and "frames" in stored:
                frames[split].append(int(stored["frames"]))
                reused += 1
                continue
            feats = dump.load(utt.utt_id).feats  # (N, Q)
            n = feats.shape[0]
            wav = prepared_audio(dump, utt)
            if 1 + len(wav) // hop != n:
                raise DataError(
                    f"{utt.path}: gives {1 + len(wav) // hop} frames but its features in {cache} have {n}; "
                    "re-run vc-prep"
                )
            # parallel-wavegan's preprocess: edge-pad, then cut the audio to exactly N hops.
            wave = np.pad(wav, (0, cfg.features.n_fft), mode="edge")[: n * hop]
            norm = stats.normalize(feats)
            if feats_fn is not None:
                norm = feats_fn(utt, norm)
                if norm.shape != feats.shape:
                    raise TrainingError(f"{utt.utt_id}: generated features {norm.shape} differ from {feats.shape}")
            _write_pair(target, wave, norm, {**attrs, "frames": str(n)})
            frames[split].append(n)
            if progress and (i % 200 == 0 or i == len(utts)):
                print(f"exported {i}/{len(utts)} {split} utterances", flush=True)
        if progress and reused:
            print(f"{split}: {reused} exported utterance(s) reused", flush=True)
    return frames


# --- training --------------------------------------------------------------------------------------
def _checkpoints(out_dir: Path) -> list[Path]:
    return sorted(out_dir.glob("checkpoint-*steps.pkl"), key=checkpoint_steps)


def _run_trainer(args: list[str], log_path: Path) -> int:
    """Run parallel-wavegan's trainer, relaying its output to our stdout and ``log_path``."""
    env = dict(os.environ)
    # The wrapper module must be importable even when vc is used from a source checkout.
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("PYTHONUNBUFFERED", "1")
    cmd = [sys.executable, "-m", "vc.vocoders.run_pwg_train", *args]
    out = sys.stdout.buffer if hasattr(sys.stdout, "buffer") else None
    with open(log_path, "ab") as log:
        log.write(("$ " + " ".join(cmd) + "\n").encode())
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
        assert proc.stdout is not None
        try:
            # Chunks, not lines: tqdm redraws its progress bar with carriage returns.
            for chunk in iter(lambda: proc.stdout.read1(4096), b""):
                log.write(chunk)
                if out is not None:
                    out.write(chunk)
                    out.flush()
                else:
                    sys.stdout.write(chunk.decode(errors="replace"))
        except KeyboardInterrupt:
            proc.terminate()
            proc.wait()
            raise
        return proc.wait()


def _check_lengths(frames: dict[str, list[int]], config: dict[str, Any], hop: int) -> None:
    """Every split needs at least one utterance longer than a training segment."""
    aux = config["generator_params"].get("aux_context_window", 0)
    needed = config["batch_max_steps"] // hop + 2 * aux
    for split, counts in frames.items():
        if not any(n > needed for n in counts):
            raise DataError(
                f"every {split} utterance is too short for vocoder.batch_max_steps {config['batch_max_steps']} "
                f"(the longest has {max(counts)} frames, a segment needs more than {needed}); "
                "lower vocoder.batch_max_steps"
            )


def _trainer_args(out: Path, dump_root: Path, config_path: Path) -> list[str]:
    return [
        "--train-dumpdir", str(dump_root / "train" / "norm"),
        "--dev-dumpdir", str(dump_root / "dev" / "norm"),
        "--outdir", str(out),
        "--config", str(config_path),
        "--verbose", "1",
    ]  # fmt: skip


def train_vocoder(
    cfg: ExperimentConfig, out_dir: str | Path | None = None, resume: bool = False, progress: bool = True
) -> Path:
    """Export the dump, write the YAML, train with parallel-wavegan, record the default vocoder.

    Args:
        cfg: the experiment config (``features``, ``data.dump_dir``, ``vocoder``, ``train.out_dir``).
        out_dir: the vocoder directory; default ``vocoder.out_dir``, else ``<train.out_dir>/vocoder``.
        resume: continue from the newest checkpoint in ``out_dir``; without it, a directory that
            already holds checkpoints is refused.

    Returns:
        The vocoder directory (load it with ``get_vocoder("pwg:<dir>", ...)``).

    Raises:
        ConfigError, DataError, FingerprintError: see :func:`pwg_config` and :func:`export_dump`.
        TrainingError: the trainer failed (its output is in ``<out_dir>/train.log``).
    """
    from vc.config import save_config

    out = Path(out_dir or cfg.vocoder.out_dir or Path(cfg.train.out_dir) / "vocoder").absolute()
    config = pwg_config(cfg)
    existing = _checkpoints(out)
    if existing and not resume:
        raise ConfigError(
            f"{out}: already holds {existing[-1].name}; pass --resume to continue it or choose another --out"
        )
    config_path = out / "config.yml"
    if resume and existing and config_path.is_file():
        old = yaml.load(config_path.read_text(encoding="utf-8"), Loader=yaml.FullLoader) or {}
        for key in ("generator_type", "generator_params", "discriminator_type", "discriminator_params"):
            if old.get(key) != config.get(key):
                raise ConfigError(
                    f"{config_path}: {key} differs from the current vocoder settings, so {existing[-1].name} "
                    "cannot be resumed; restore the settings or choose another --out"
                )

    out.mkdir(parents=True, exist_ok=True)
    _check_lengths(export_dump(cfg, out, progress=progress), config, cfg.features.hop_size)
    write_text_atomic(config_path, yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    save_config(cfg, out / "vc_config.yaml")

    start = checkpoint_steps(existing[-1]) if existing and resume else 0
    if start >= cfg.vocoder.train_steps:
        print(f"{existing[-1].name}: already at vocoder.train_steps {cfg.vocoder.train_steps}; nothing to train")
    else:
        args = _trainer_args(out, out / "dump", config_path)
        if existing and resume:
            args += ["--resume", str(existing[-1])]
        code = _run_trainer(args, out / "train.log")
        if code != 0:
            raise TrainingError(f"parallel-wavegan training failed (exit {code}); see {out / 'train.log'}")

    check_pwg_dir(out, cfg.features)  # what conversion will load must load
    if cfg.vocoder.finetune_on_generator:
        out = finetune_on_generator(cfg, out, config, resume=resume, progress=progress)
    write_default_vocoder(cfg.train.out_dir, f"pwg:{out}")
    if progress:
        newest = _checkpoints(out)[-1].name
        print(f"vocoder ready: pwg:{out} ({newest}); recorded in {Path(cfg.train.out_dir) / 'default_vocoder.json'}")
    return out


def finetune_on_generator(
    cfg: ExperimentConfig, base: Path, config: dict[str, Any], resume: bool = False, progress: bool = True
) -> Path:
    """Fine-tune the vocoder in ``base`` on the conversion model's teacher-forced outputs.

    Returns ``<base>/finetune``. Raises :class:`~vc.errors.CheckpointError` when ``train.out_dir``
    holds no conversion checkpoint (train the model first).
    """
    import torch

    from vc.convert.converter import Converter
    from vc.errors import CheckpointError
    from vc.features.config import check_fingerprint
    from vc.train.checkpoint import load_checkpoint, newest_checkpoint

    model_ckpt = newest_checkpoint(cfg.train.out_dir)
    if model_ckpt is None:
        raise CheckpointError(
            f"vocoder.finetune_on_generator needs a trained conversion model in {cfg.train.out_dir}; run vc-train first"
        )
    state = load_checkpoint(model_ckpt)
    # Griffin-Lim is only a placeholder here: the converter's nets are what we need, not its vocoder.
    conv = Converter(state, vocoder="griffinlim", device="cuda" if torch.cuda.is_available() else "cpu")
    check_fingerprint(cfg.features, conv.features, str(model_ckpt))
    fam, nets = conv.family, conv.nets

    @torch.no_grad()
    def reconstruct(utt: Utterance, norm: np.ndarray) -> np.ndarray:
        target = conv.domain_index(utt.domain)
        x = torch.from_numpy(norm.T.copy()).float()[None, None].to(conv.device)
        style = fam.style(nets, target, ref=x) if fam.has_style_encoder else fam.style(nets, target)
        f0 = conv.stats.f0_normalized(dump_f0[utt.utt_id], utt.domain)
        f0n = torch.from_numpy(np.asarray(f0, dtype=np.float32))[None].to(conv.device)
        y = fam.convert(nets, x, f0n, target, target, style)
        return y[0, 0].float().cpu().numpy().T

    from vc.data.dump import Dump
    from vc.data.readers import expand

    dump = Dump(expand(cfg.data.dump_dir), cfg.features)
    dump_f0 = {u.utt_id: dump.load(u.utt_id).f0 for split in SPLITS for u in dump.utterances(split)}
    out = base / "finetune"
    out.mkdir(parents=True, exist_ok=True)
    tag = f"{model_ckpt.resolve()}@{state['step']}"
    _check_lengths(export_dump(cfg, out, progress=progress, feats_fn=reconstruct, source_tag=tag), config,
                   cfg.features.hop_size)
    ft_config = {**config, "train_max_steps": cfg.vocoder.finetune_steps}
    config_path = out / "config.yml"
    write_text_atomic(config_path, yaml.safe_dump(ft_config, sort_keys=False, allow_unicode=True))
    existing = _checkpoints(out)
    start = checkpoint_steps(existing[-1]) if existing and resume else 0
    if start < cfg.vocoder.finetune_steps:
        args = _trainer_args(out, out / "dump", config_path)
        if existing and resume:
            args += ["--resume", str(existing[-1])]
        else:
            for old in existing:  # a fresh fine-tune from the current base weights
                old.unlink()
            args += ["--pretrain", str(_checkpoints(base)[-1])]
        if progress:
            print(f"fine-tuning on {model_ckpt.name}'s teacher-forced outputs for {cfg.vocoder.finetune_steps} steps")
        code = _run_trainer(args, out / "train.log")
        if code != 0:
            raise TrainingError(f"parallel-wavegan fine-tuning failed (exit {code}); see {out / 'train.log'}")
    check_pwg_dir(out, cfg.features)
    return out
