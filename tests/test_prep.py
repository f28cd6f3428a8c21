"""vc.data.prepare and vc-prep: corpus layouts, rejection, splits, resuming, the dump reader, the CLI."""

from __future__ import annotations

import dataclasses
import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import experiment_config
from synth import make_corpus

from vc.data import Dump, prepare
from vc.data.dump import read_manifest
from vc.data.prep import split_utterances
from vc.errors import DataError, FingerprintError

TWO = {"alto": dict(f0=200.0, tilt=0.0), "bass": dict(f0=95.0, tilt=-4.0)}


@pytest.fixture(scope="module")
def corpora(tmp_path_factory) -> dict[str, Path]:
    """Every layout, 2 domains x 3 clips x ~0.6 s."""
    base = tmp_path_factory.mktemp("layouts")
    return {
        layout: make_corpus(base / layout, layout, TWO, n_per_domain=3, seconds=0.6)
        for layout in ("generic", "vctk080", "vctk092", "vctkflat", "list")
    }


@pytest.mark.parametrize("layout", ["generic", "vctk080", "vctk092", "vctkflat", "list"])
def test_layouts(tmp_path, corpora, layout):
    fmt = {"generic": "generic", "list": "list"}.get(layout, "vctk")
    cfg = experiment_config(corpora[layout], tmp_path / "dump", format=fmt, vctk_mic="mic2")
    result = prepare(cfg, progress=False)
    assert result.domains == ["alto", "bass"]
    assert {s: result.total(s) for s in ("train", "dev", "test")} == {"train": 2, "dev": 2, "test": 2}
    assert not result.rejected
    utts = read_manifest(tmp_path / "dump" / "manifest" / "all.tsv")
    assert sorted(u.utt_id for u in utts) == [f"{d}_00{i}" for d in ("alto", "bass") for i in (1, 2, 3)]
    assert {u.text for u in utts if u.utt_id == "bass_002"} == {"utterance 2 of bass"}
    assert all(0.3 < u.duration < 0.7 for u in utts)
    if layout == "vctk092":
        assert all(u.path.endswith("_mic2.flac") for u in utts)
    dump = Dump(tmp_path / "dump", cfg.features)
    f = dump.load("alto_001")
    assert f.feats.shape[1] == 80 and f.f0.shape == (f.feats.shape[0],)
    assert (tmp_path / "dump" / "config.yaml").is_file()
    assert (tmp_path / "dump" / "features.yaml").is_file()


def test_dump_contents_and_stats(prepared_dump):
    cfg, dump_dir = prepared_dump
    info = json.loads((dump_dir / "domains.json").read_text())
    assert info["domains"] == ["high", "low", "mid"] and info["fingerprint"] == cfg.features.fingerprint()
    dump = Dump(dump_dir, cfg.features)
    train = dump.utterances("train")
    assert len(train) == 12 and len(dump.utterances("dev")) == 3 and len(dump.utterances("test")) == 3
    with h5py.File(dump_dir / "feats" / f"{train[0].utt_id}.h5", "r") as h5:
        assert h5.attrs["fingerprint"] == cfg.features.fingerprint()
        assert h5["feats"].shape[1] == 80
    # The statistics are those of the training features.
    every = np.concatenate([dump.load(u.utt_id).feats for u in train]).astype(np.float64)
    np.testing.assert_allclose(dump.stats.mean, every.mean(0), atol=1e-4)
    np.testing.assert_allclose(dump.stats.scale, np.maximum(every.std(0), 1e-3), atol=1e-4)
    # Domains were generated at 230 / 100 / 160 Hz: their log-F0 means must order the same way.
    means = {d: np.exp(dump.stats.lf0_mean[d]) for d in dump.domains}
    assert means["low"] < means["mid"] < means["high"]
    assert abs(means["low"] / 100.0 - 1) < 0.15


def test_dump_refuses_other_features_and_non_dumps(prepared_dump, tmp_path):
    cfg, dump_dir = prepared_dump
    with pytest.raises(FingerprintError, match="num_mels: 40 vs 80"):
        Dump(dump_dir, dataclasses.replace(cfg.features, num_mels=40))
    with pytest.raises(DataError, match="run vc-prep"):
        Dump(tmp_path)
    # A cache from other settings is refused by name, too.
    copy = tmp_path / "copy"
    shutil.copytree(dump_dir, copy)
    utt = Dump(copy).utterances("train")[0].utt_id
    with h5py.File(copy / "feats" / f"{utt}.h5", "r+") as h5:
        stored = json.loads(h5.attrs["features"])
        stored["fmax"] = 8000.0
        h5.attrs["features"] = json.dumps(stored)
        h5.attrs["fingerprint"] = "0" * 16
    with pytest.raises(FingerprintError, match="fmax: 7600.0 vs 8000.0"):
        Dump(copy, cfg.features).load(utt)


def test_corrupt_files_are_rejected_and_prep_carries_on(tmp_path, tiny_corpus):
    root = tmp_path / "corpus"
    shutil.copytree(tiny_corpus, root)
    victim = root / "mid" / "mid_002.wav"
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 3])  # truncated copy
    (root / "low" / "notes.wav").write_text("not audio")
    result = prepare(experiment_config(root, tmp_path / "dump"), progress=False)
    rejected = dict(result.rejected)
    assert set(rejected) == {str(victim), str(root / "low" / "notes.wav")}
    assert "truncated" in rejected[str(victim)]
    lines = (tmp_path / "dump" / "rejected.tsv").read_text().splitlines()
    assert lines[0] == "path\treason" and len(lines) == 3
    assert result.total("train") + result.total("dev") + result.total("test") == 17


def test_domain_without_usable_audio_fails_with_its_name(tmp_path, tiny_corpus):
    root = tmp_path / "corpus"
    shutil.copytree(tiny_corpus, root)
    for p in (root / "mid").glob("*.wav"):
        p.write_bytes(b"")
    with pytest.raises(DataError, match="domain mid: no usable audio"):
        prepare(experiment_config(root, tmp_path / "dump"), progress=False)
    assert len((tmp_path / "dump" / "rejected.tsv").read_text().splitlines()) == 7


def test_unknown_selected_domain(tmp_path, tiny_corpus):
    cfg = experiment_config(tiny_corpus, tmp_path / "dump", domains=["low", "alto"])
    with pytest.raises(DataError, match=r"alto not found .*found: high, low, mid"):
        prepare(cfg, progress=False)


def test_missing_domains_skip(tmp_path, tiny_corpus):
    """A partial corpus (e.g. a few VCTK speakers) runs with the full domain list when asked to skip."""
    cfg = experiment_config(tiny_corpus, tmp_path / "dump", domains=["alto", "mid", "bass", "low"],
                            missing_domains="skip")
    result = prepare(cfg, progress=False)
    assert result.domains == ["mid", "low"]  # the listed order, absent ones left out
    assert any("alto, bass not found" in note and "skipped" in note for note in result.notes)
    assert json.loads((tmp_path / "dump" / "domains.json").read_text())["domains"] == ["mid", "low"]
    cfg = experiment_config(tiny_corpus, tmp_path / "dump2", domains=["alto"], missing_domains="skip")
    with pytest.raises(DataError, match=r"alto not found"):  # nothing at all found is still an error
        prepare(cfg, progress=False)


def test_domain_selection_order_and_domain_map(tmp_path, tiny_corpus):
    cfg = experiment_config(tiny_corpus, tmp_path / "d1", domains=["mid", "low"])
    assert prepare(cfg, progress=False).domains == ["mid", "low"]
    mapping = tmp_path / "map.tsv"
    mapping.write_text("# speaker to dialect\nlow\tdeep\nmid\tdeep\n")
    cfg = experiment_config(tiny_corpus, tmp_path / "d2", domain_map=str(mapping))
    result = prepare(cfg, progress=False)
    assert result.domains == ["deep"] and result.counts["train"]["deep"] == 10
    assert any("high" in note and "excluded" in note for note in result.notes)
    mapping.write_text("low deep extra\n")
    with pytest.raises(DataError, match=r"map.tsv:1: expected label<TAB>domain"):
        prepare(cfg, progress=False)


def test_list_errors(tmp_path, corpora):
    bad = tmp_path / "bad.txt"
    bad.write_text("# header\n\n/a.wav|alto\nmissing-domain.wav\n")
    with pytest.raises(DataError, match=r"bad.txt:4: expected path\|domain"):
        prepare(experiment_config(bad, tmp_path / "dump", format="list"), progress=False)


def test_splits_are_reproducible_and_keep_one_in_train(prepared_dump):
    cfg, dump_dir = prepared_dump
    utts = read_manifest(dump_dir / "manifest" / "all.tsv")
    domains = ["high", "low", "mid"]
    first, _ = split_utterances(utts, domains, 1, 2, seed=5)
    shuffled = utts[:]
    random.Random(0).shuffle(shuffled)
    again, _ = split_utterances(shuffled, domains, 1, 2, seed=5)
    assert first == again
    others = [split_utterances(utts, domains, 1, 2, seed=s)[0] for s in range(6, 10)]
    assert any(o["test"] != first["test"] for o in others)
    tiny, notes = split_utterances(utts[:2], ["high"], 1, 1, seed=0)
    assert len(tiny["train"]) == 1 and len(tiny["dev"]) == 1 and not tiny["test"] and notes


def test_test_utts_hold_out_the_same_sentences_of_every_domain(prepared_dump):
    cfg, dump_dir = prepared_dump
    utts = read_manifest(dump_dir / "manifest" / "all.tsv")
    domains = ["high", "low", "mid"]
    splits, notes = split_utterances(utts, domains, 1, 1, seed=5, test_utts=["*_00[12]"])
    assert sorted(u.utt_id for u in splits["test"]) == sorted(
        f"{d}_00{i}" for d in domains for i in (1, 2))  # exactly the matching ones, test_per_domain unused
    assert not notes
    held = {u.utt_id for u in splits["test"]}
    assert not held & {u.utt_id for s in ("train", "dev") for u in splits[s]}
    assert all(sum(u.domain == d for u in splits["dev"]) == 1 for d in domains)
    # a domain none of whose utterances match is said so
    _, notes = split_utterances(utts, domains, 1, 1, seed=5, test_utts=["low_00*"])
    assert any("domain high: no utterance matches data.test_utts" in n for n in notes)


def test_rerun_skips_finished_work(tmp_path, tiny_corpus):
    cfg = experiment_config(tiny_corpus, tmp_path / "dump", cache_format="npy")
    first = prepare(cfg, progress=False)
    assert first.extracted == 18 and first.reused == 0
    assert len(list((tmp_path / "dump" / "feats").glob("*.npz"))) == 18
    again = prepare(cfg, progress=False)
    assert again.extracted == 0 and again.reused == 18
    assert again.counts == first.counts
    # A different trimming or different features invalidate the caches.
    cfg.data.trim_top_db = 20.0
    assert prepare(cfg, progress=False).extracted == 18
    cfg.features = dataclasses.replace(cfg.features, num_mels=40)
    assert prepare(cfg, progress=False).extracted == 18
    assert Dump(tmp_path / "dump", cfg.features).load("low_001").feats.shape[1] == 40


def _vc_prep() -> list[str]:
    script = Path(sys.executable).with_name("vc-prep")
    return [str(script)] if script.exists() else [sys.executable, "-m", "vc.cli.prep"]


def test_cli(tmp_path, tiny_corpus):
    conf = tmp_path / "conf.yaml"
    conf.write_text(
        "features: {sample_rate: 16000, n_fft: 1024, hop_size: 200, win_length: 800, f0_method: dio}\n"
        f"data: {{root: {tiny_corpus}, dump_dir: {tmp_path / 'wrong'}}}\n"
    )
    dump = tmp_path / "dump"
    ok = subprocess.run(
        [*_vc_prep(), str(conf), "--quiet", "--set", f"data.dump_dir={dump}", "--set", "data.num_workers=2"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert ok.returncode == 0, ok.stderr
    assert "3 domains (high, low, mid)" in ok.stdout and "train 12, dev 3, test 3" in ok.stdout
    assert "0 rejected" in ok.stdout and str(dump) in ok.stdout
    assert not (tmp_path / "wrong").exists()
    assert f"dump_dir: {dump}" in (dump / "config.yaml").read_text()

    bad = subprocess.run(
        [*_vc_prep(), str(conf), "--set", "data.num_wokers=2"], capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1 and "data.num_wokers" in bad.stderr and "num_workers" in bad.stderr


@pytest.fixture(scope="module")
def vctk_mini_dump(tmp_path_factory) -> Path:
    """One dump folder for both readings of vctk_mini: the second run reuses the first one's caches."""
    return tmp_path_factory.mktemp("vctk_mini") / "dump"


@pytest.mark.parametrize("fmt", ["generic", "vctk"])
def test_vctk_mini(vctk_mini, vctk_mini_dump, fmt):
    cfg = experiment_config(vctk_mini, vctk_mini_dump, format=fmt, num_workers=2)
    result = prepare(cfg, progress=False)
    assert result.domains == ["p225", "p226", "p227", "p228"]
    assert sum(result.total(s) for s in ("train", "dev", "test")) == 40 and not result.rejected
    texts = {u.utt_id: u.text for u in Dump(vctk_mini_dump).utterances("all")}
    assert len(texts) == 40 and "p228_005" in texts
    if fmt == "vctk":  # transcripts.tsv is read for the VCTK-like tree
        assert texts["p225_003"].startswith("Six spoons of fresh snow peas")


def test_generic_reader_details_and_unique_ids(tmp_path):
    from vc.data.readers import read_corpus, utterance_ids

    for rel in ("a/001.WAV", "a/sub/002.Flac", "b/001.wav", "b/.hidden.wav", "b/readme.txt", ".git/x.wav"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"RIFF")
    (tmp_path / "a" / "sub" / "002.lab").write_text("hello\nworld\n")
    items = read_corpus("generic", str(tmp_path), "mic1")
    assert [(p.relative_to(tmp_path).as_posix(), d, t) for p, d, t in items] == [
        ("a/001.WAV", "a", ""),
        ("a/sub/002.Flac", "a", "hello world"),
        ("b/001.wav", "b", ""),
    ]
    assert utterance_ids([(p, d) for p, d, _ in items]) == ["a_001", "002", "b_001"]
    mics = [(Path("p225_001_mic1.flac"), "p225"), (Path("p225_002_mic1.flac"), "p225")]
    assert utterance_ids(mics, vctk_mic="mic1") == ["p225_001", "p225_002"]
