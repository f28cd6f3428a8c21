"""vc-eval: metric definitions, identity scores, domain accuracy, skipped extras, the report, the CLI."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from synth import DEFAULT_DOMAINS, speech_like

from vc.errors import ConfigError
from vc.eval import EvalConfig, evaluate_pairs, read_pairs
from vc.eval import metrics as M
from vc.eval.evaluate import headline

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
SR = 16000
#: Fast settings: dio F0, no optional extras and no baselines unless a test is about them (the
#: baselines have their own tests, tests/test_baselines.py; the CLI test below keeps them on).
FAST = dict(f0_method="dio", speaker_similarity=False, naturalness=False, asr=False, num_workers=1, baselines=[])


def _cfg(**kw) -> EvalConfig:
    return EvalConfig(**{**FAST, **kw})


def _write_pairs(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    path.write_text("\n".join("\t".join(map(str, r)) for r in [header, *rows]) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    """Two 1.2 s clips of two synthetic speakers."""
    root = tmp_path_factory.mktemp("eval_clips")
    out = {}
    for i, (name, params) in enumerate(list(DEFAULT_DOMAINS.items())[:2]):
        out[name] = root / f"{name}.wav"
        sf.write(out[name], speech_like(1.2, SR, seed=40 + i, **params), SR)
    return out


class _Refs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.refs += [v for k, v in attrs if k in ("src", "href") and v]


def _check_report(report: Path) -> _Refs:
    """The page parses, needs nothing online, and every file it references exists beside it."""
    from urllib.parse import unquote

    parser = _Refs()
    parser.feed(report.read_text(encoding="utf-8"))
    parser.close()
    assert "audio" in parser.tags and "table" in parser.tags and "script" not in parser.tags
    assert parser.refs
    for ref in parser.refs:
        assert "://" not in ref and not ref.startswith("/"), ref
        if not ref.startswith("#"):
            assert (report.parent / unquote(ref)).is_file(), ref
    return parser


# --- definitions ------------------------------------------------------------------------------------
def test_metric_definitions():
    # The mel-cepstrum inverts its own definition ln|H| = sum_m c_m cos(m beta(omega)).
    rng = np.random.default_rng(0)
    c = rng.normal(size=(4, 25)) * np.exp(-np.arange(25) / 5)[None]
    omega = np.linspace(0, np.pi, 513)
    for alpha in (0.0, 0.42):
        log_amp = np.cos(np.outer(M.warp_frequency(omega, alpha), np.arange(25))) @ c.T
        assert np.abs(M.mel_cepstrum(np.exp(2 * log_amp.T), 24, alpha) - c).max() < 2e-3
    assert M.all_pass_constant(16000) == 0.42 and M.all_pass_constant(22050) == 0.455
    assert M.all_pass_constant(24000) == 0.466 and 0.41 < M.all_pass_constant(20000) < 0.455
    # MCD constant: one coefficient off by d on every frame gives 10*sqrt(2)/ln10 * d dB.
    a = np.zeros((20, 25))
    a[:, 0] = 1.0
    b = a.copy()
    b[:, 3] += 0.1
    assert M.mcd(a, a)[0] == 0.0
    assert M.mcd(a, b)[0] == pytest.approx(10 * math.sqrt(2) / math.log(10) * 0.1)

    f0 = np.where(np.arange(200) % 50 < 35, 120 + 20 * np.sin(np.arange(200) / 9), 0.0)
    same = M.f0_scores(f0, f0)
    assert same["lf0_rmse"] == 0.0 and same["f0_corr"] == pytest.approx(1.0, abs=1e-12) and same["vuv_error"] == 0
    octave = M.f0_scores(f0, 2 * f0)  # a pure register shift: raw RMSE ln 2, the shape untouched
    assert octave["lf0_rmse"] == pytest.approx(math.log(2))
    assert octave["lf0_rmse_centered"] == pytest.approx(0, abs=1e-9) and octave["f0_corr"] == pytest.approx(1.0)
    assert M.f0_scores(f0, np.zeros_like(f0))["f0_corr"] is None

    assert M.wer("The cat, sat!", "the cat sat") == 0.0 and M.wer("a b c d", "a x c") == 0.5
    assert M.wer("", "anything") is None
    ci = M.mean_ci([1.0, 2.0, 3.0, None])
    assert ci["n"] == 3 and ci["mean"] == 2.0 and ci["ci95"][1] - 2.0 == pytest.approx(4.302653 / math.sqrt(3), 1e-5)
    assert M.mean_ci([5.0])["ci95"] is None and M.mean_ci([])["mean"] is None
    p = M.proportion_ci([1.0] * 10)
    assert p["mean"] == 1.0 and 0.65 < p["ci95"][0] < 0.75 and p["ci95"][1] == pytest.approx(1.0)


# --- identity "conversion" and the report --------------------------------------------------------------
def test_identity_conversion_scores_mcd_zero_and_f0_correlation_one(clips, tmp_path):
    low, mid = str(clips["low"]), str(clips["mid"])
    pairs = _write_pairs(tmp_path / "pairs.tsv", ["converted", "source", "src_domain", "tgt_domain", "target_ref"],
                         [[low, low, "low", "low", low], [mid, mid, "mid", "mid", mid]])
    lines: list[str] = []
    res = evaluate_pairs(pairs, tmp_path / "out", _cfg(), log=lines.append, progress=False)
    rows = res.scores["utterances"]
    assert [r["id"] for r in rows] == ["low", "mid"] and not res.failed
    for r in rows:
        assert r["mcd"] == 0.0 and r["mcd_frames"] > 50
        assert r["f0_corr"] == pytest.approx(1.0, abs=1e-12) and r["lf0_rmse"] == 0.0 and r["vuv_error"] == 0.0
        assert r["voiced_frames"] > 50 and r.get("domain_correct") is None
    summary = res.scores["summary"]
    assert summary["overall"]["mcd"] == {"mean": 0.0, "ci95": [0.0, 0.0], "n": 2}
    assert set(summary["by_target"]) == {"low", "mid"} and summary["by_target"]["low"]["mcd"]["n"] == 1
    assert res.scores["settings"]["mcd"]["alpha"] == 0.42 and res.scores["sample_rate"] == SR
    assert any(line.startswith("domain accuracy skipped:") for line in lines)

    on_disk = json.loads(res.scores_path.read_text())
    assert on_disk["utterances"][0]["mcd"] == 0.0 and on_disk["summary"] == json.loads(json.dumps(summary))
    parser = _check_report(res.report_path)
    assert sum(ref.endswith(".png") for ref in parser.refs) == 2
    # The folder is portable: audio from elsewhere was copied in.
    assert all(not ref.startswith("..") for ref in parser.refs)
    assert "MCD 0.00 dB" in res.headline


def test_different_clips_score_worse_than_identity(clips, tmp_path):
    low, mid = str(clips["low"]), str(clips["mid"])
    pairs = _write_pairs(tmp_path / "pairs.tsv", ["source", "converted", "tgt_domain", "src_domain", "target_ref"],
                         [[low, mid, "mid", "low", low]])
    row = evaluate_pairs(pairs, tmp_path / "out", _cfg(), log=lambda _: None, progress=False).scores["utterances"][0]
    assert row["mcd"] > 2.0
    assert row["lf0_rmse"] > 0.3  # 100 Hz against 160 Hz: about ln 1.6


# --- domain accuracy ---------------------------------------------------------------------------------
def test_wrong_speaker_lowers_domain_accuracy(prepared_dump, tmp_path):
    from vc.data import Dump

    cfg, dump_dir = prepared_dump
    dump = Dump(dump_dir, cfg.features)
    held_out = dump.utterances("test") + dump.utterances("dev")
    domains = dump.domains
    right = [[u.path, u.path, u.domain, u.domain] for u in held_out]
    wrong = [[u.path, u.path, u.domain, domains[(domains.index(u.domain) + 1) % len(domains)]] for u in held_out]
    header = ["converted", "source", "src_domain", "tgt_domain"]
    ecfg = _cfg(classifier_steps=60, classifier_crop_seconds=0.5)
    lines: list[str] = []
    good = evaluate_pairs(_write_pairs(tmp_path / "right.tsv", header, right), tmp_path / "right", ecfg, dump=dump,
                          classifier_dir=tmp_path / "clf", log=lines.append, progress=False)
    bad = evaluate_pairs(_write_pairs(tmp_path / "wrong.tsv", header, wrong), tmp_path / "wrong", ecfg, dump=dump,
                         classifier_dir=tmp_path / "clf", log=lines.append, progress=False)
    clf = good.scores["classifier"]
    assert clf["dev_accuracy"] >= 2 / 3 and clf["dev_utterances"] == len(domains)
    assert not clf["loaded_from_cache"] and bad.scores["classifier"]["loaded_from_cache"]  # trained once
    assert len(list((tmp_path / "clf").glob("domain_classifier_*.pt"))) == 1
    acc_right = good.scores["summary"]["overall"]["domain_correct"]["mean"]
    acc_wrong = bad.scores["summary"]["overall"]["domain_correct"]["mean"]
    # 4 training clips per domain: the classifier generalises imperfectly, but the gap must be wide.
    assert acc_right >= 2 / 3 and acc_wrong <= 1 / 3 and acc_right - acc_wrong >= 0.5, (acc_right, acc_wrong)
    assert sum("accuracy on real dev audio" in line for line in lines) == 2
    assert "domain acc" in good.headline and "classifier dev" in good.headline


# --- optional extras ---------------------------------------------------------------------------------
def test_missing_extras_are_skipped_with_their_message(clips, tmp_path, monkeypatch):
    for name in ("resemblyzer", "speechmos", "speechmos.dnsmos", "pocketsphinx"):
        monkeypatch.setitem(sys.modules, name, None)  # what an absent package looks like to import
    low = str(clips["low"])
    pairs = _write_pairs(tmp_path / "pairs.tsv", ["converted", "source", "src_domain", "tgt_domain", "text"],
                         [[low, low, "low", "mid", "a short sentence"]])
    lines: list[str] = []
    res = evaluate_pairs(pairs, tmp_path / "out", _cfg(speaker_similarity=True, naturalness=True, asr=True),
                         log=lines.append, progress=False)
    expected = [
        "speaker similarity skipped: install resemblyzer (pip install .[eval])",
        "naturalness skipped: install speechmos (pip install .[eval])",
        "intelligibility skipped: install pocketsphinx (pip install .[eval])",
    ]
    for line in expected:
        assert lines.count(line) == 1, lines
    assert sorted(res.scores["skipped"]) == ["domain_accuracy", "intelligibility", "mcd", "naturalness",
                                            "speaker_similarity"]
    row = res.scores["utterances"][0]
    for key in ("spk_sim_target", "spk_sim_source", "dnsmos", "wer"):
        assert row.get(key) is None
        assert res.scores["summary"]["overall"][key]["mean"] is None
    assert row["f0_corr"] is not None  # the core scores still ran
    assert "pip install .[eval]" in res.report_path.read_text()


def test_naturalness_keeps_every_dnsmos_score(clips, tmp_path, monkeypatch):
    """One DNSMOS run fills P.835's overall, speech and background scores and P.808's overall score,
    each summarised and shown in the report (a stand-in speechmos: the real one is an optional extra)."""
    import types

    calls = []

    def run(sample, sr):
        calls.append(len(sample))
        loud = float(np.sqrt(np.mean(np.square(sample))))  # differs between the two clips
        return {"ovrl_mos": 3.0 + loud, "sig_mos": 3.5, "bak_mos": 4.0 - loud, "p808_mos": 2.5 + 2 * loud}

    package = types.ModuleType("speechmos")
    package.dnsmos = types.SimpleNamespace(run=run)
    monkeypatch.setitem(sys.modules, "speechmos", package)
    monkeypatch.setitem(sys.modules, "speechmos.dnsmos", package.dnsmos)
    low, mid = str(clips["low"]), str(clips["mid"])
    pairs = _write_pairs(tmp_path / "pairs.tsv", ["converted", "source", "src_domain", "tgt_domain"],
                         [[low, mid, "mid", "low"], [mid, low, "low", "mid"]])
    res = evaluate_pairs(pairs, tmp_path / "out", _cfg(naturalness=True), log=lambda _: None, progress=False)
    assert len(calls) == 2  # one run per conversion gives all four
    overall = res.scores["summary"]["overall"]
    for row in res.scores["utterances"]:
        assert row["dnsmos_sig"] == 3.5
        assert row["dnsmos_bak"] == pytest.approx(7.0 - row["dnsmos"])
        assert row["dnsmos_p808"] == pytest.approx(2.0 * row["dnsmos"] - 3.5)
    for key in ("dnsmos", "dnsmos_sig", "dnsmos_bak", "dnsmos_p808"):
        assert overall[key]["n"] == 2
    assert overall["dnsmos_p808"]["mean"] == pytest.approx(2.0 * overall["dnsmos"]["mean"] - 3.5)
    assert f"(P.808 {overall['dnsmos_p808']['mean']:.2f})" in res.headline
    # scores made before P.808 was kept still give a headline, without it
    older = {**res.scores, "summary": {"overall": {k: v for k, v in overall.items() if k != "dnsmos_p808"}}}
    line = headline(older)
    assert f"DNSMOS {overall['dnsmos']['mean']:.2f}" in line and "P.808" not in line
    report = res.report_path.read_text()
    for label in ("DNSMOS P.835 speech signal", "DNSMOS P.835 background", "DNSMOS P.808 overall"):
        assert label in report


def test_extras_score_when_installed(prepared_dump, tmp_path):
    for name in ("resemblyzer", "speechmos", "pocketsphinx"):
        pytest.importorskip(name)
    from vc.data import Dump

    cfg, dump_dir = prepared_dump
    dump = Dump(dump_dir, cfg.features)
    u = dump.utterances("test")[0]
    pairs = _write_pairs(tmp_path / "pairs.tsv", ["converted", "source", "src_domain", "tgt_domain", "text"],
                         [[u.path, u.path, u.domain, u.domain, u.text]])
    res = evaluate_pairs(pairs, tmp_path / "out", _cfg(speaker_similarity=True, speaker_refs=2, naturalness=True,
                                                       asr=True, classifier_steps=0),
                         dump=dump, log=lambda _: None, progress=False)
    row = res.scores["utterances"][0]
    assert -1.0 <= row["spk_sim_target"] <= 1.0 and row["spk_sim_target"] == row["spk_sim_source"]
    for key in ("dnsmos", "dnsmos_sig", "dnsmos_bak", "dnsmos_p808"):
        assert 1.0 <= row[key] <= 5.0
    assert isinstance(row["asr_hyp"], str) and row["wer"] >= 0.0
    assert set(res.scores["skipped"]) == {"mcd", "domain_accuracy"}


# --- pairs files and failures ------------------------------------------------------------------------
def test_pairs_file_errors_name_file_and_line(clips, tmp_path):
    low = str(clips["low"])
    bad_header = _write_pairs(tmp_path / "h.tsv", ["converted", "source", "tgt_domain"], [[low, low, "x"]])
    with pytest.raises(ConfigError, match=r"h\.tsv:1: .*header.*missing column 'src_domain'"):
        read_pairs(bad_header)
    too_many = tmp_path / "l.tsv"
    too_many.write_text(f"converted\tsource\tsrc_domain\ttgt_domain\n# ok\n{low}\t{low}\ta\tb\n{low}\t{low}\ta\tb\tc\n")
    with pytest.raises(ConfigError, match=r"l\.tsv:4: 5 tab-separated fields"):
        read_pairs(too_many)
    empty_field = _write_pairs(tmp_path / "e.tsv", ["converted", "source", "src_domain", "tgt_domain"],
                               [[low, low, "a", ""]])
    with pytest.raises(ConfigError, match=r"e\.tsv:2: empty tgt_domain"):
        read_pairs(empty_field)
    # Relative paths resolve against the pairs file; optional columns may be left off at the end.
    (tmp_path / "rel").mkdir()
    shutil.copy(low, tmp_path / "rel" / "x.wav")
    ok = _write_pairs(tmp_path / "rel" / "p.tsv", ["converted", "source", "src_domain", "tgt_domain", "text"],
                      [["x.wav", "x.wav", "a", "b"]])
    (pair,) = read_pairs(ok)
    assert pair.converted == tmp_path / "rel" / "x.wav" and pair.text == "" and pair.line == 2


def _run_cli(args, cwd):
    return subprocess.run(["vc-eval", *map(str, args)], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=600)


def _main(args, capsys) -> tuple[int, str, str]:
    """``vc-eval`` in this process (the console script's ``main``): exit code, stdout, stderr."""
    from vc.cli.eval import main

    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_bad_audio_fails_that_pair_only(clips, tmp_path, capsys):
    low = str(clips["low"])
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF not really a wav file")
    pairs = _write_pairs(tmp_path / "pairs.tsv", ["converted", "source", "src_domain", "tgt_domain"],
                         [[low, low, "low", "mid"], [broken, low, "low", "mid"]])
    code, out, err = _main(["--pairs", pairs, "--out", tmp_path / "out", "--set", "eval.f0_method=dio", "--workers",
                            "1", "--set", "eval.speaker_similarity=false", "--set", "eval.naturalness=false"], capsys)
    assert code == 1, err
    assert "failed: broken (line 3): " in err and "not a readable audio file" in err
    assert out.strip().startswith("1 conversions | ") and "1 failed" in out
    scores = json.loads((tmp_path / "out" / "scores.json").read_text())
    assert [r["id"] for r in scores["utterances"]] == ["low"] and scores["failed"][0]["line"] == 3
    _check_report(tmp_path / "out" / "report.html")

    bad = tmp_path / "bad.tsv"
    bad.write_text("converted\tsource\tsrc_domain\ttgt_domain\nonly-one-field\n")
    code, _, err = _main(["--pairs", bad], capsys)
    assert code == 2 and err.strip() == f"error: {bad}:2: empty source (expected 4 tab-separated fields)"
    code, _, err = _main(["--pairs", pairs, "--set", "train.max_steps=3"], capsys)
    assert code == 2 and "only takes eval.* settings" in err
    code, _, err = _main(["--pairs", pairs, "--set", "eval.mcd_order=0"], capsys)
    assert code == 2 and err.startswith("error: ") and "mcd_order" in err and len(err.strip().splitlines()) == 1
    code, _, err = _main(["--pairs", pairs, "--silence-gate-db", "-3"], capsys)
    assert code == 2 and "--silence-gate-db must be >= 0" in err and len(err.strip().splitlines()) == 1
    code, _, err = _main(["--ckpt", "x.pt", "--silence-gate-db", "30"], capsys)
    assert code == 2 and "--silence-gate-db goes with --pairs" in err


# --- checkpoint mode, end to end ---------------------------------------------------------------------
@pytest.mark.slow
def test_cli_checkpoint_end_to_end(trained_ckpt, tmp_path, capsys):
    exp = tmp_path / "exp"
    (exp / "checkpoints").mkdir(parents=True)
    ckpt = exp / "checkpoints" / trained_ckpt.name
    shutil.copy(trained_ckpt, ckpt)
    proc = _run_cli(["--ckpt", ckpt, "--max-utts", "1", "--targets", "mid", "--workers", "2",
                     "--set", "eval.classifier_steps=20",
                     "--set", "eval.f0_method=dio", "--set", "eval.naturalness=false", "--set", "eval.asr=false",
                     "--set", "eval.speaker_similarity=false"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = exp / "eval" / "test"
    headline, verdict, by_pair = proc.stdout.strip().splitlines()[-3:]
    assert headline.startswith("2 conversions | MCD n/a | log-F0 corr ") and "domain acc" in headline
    assert headline.endswith(f"report: {out / 'report.html'}")
    # the line after it weighs the model against the statistical baseline, scored on the same utterances
    assert verdict.startswith("vs statistical baseline: log-F0 correlation ") and " => vc " in verdict
    # and the last line points to the domain pairs where that baseline is ahead (here 2 pairs, 1 clip each)
    assert by_pair.startswith("per domain pair vs statistical baseline (2 pairs): ")
    scores = json.loads((out / "scores.json").read_text())
    rows = scores["utterances"]
    assert len(rows) == 2 and not scores["failed"] and scores["mode"] == "checkpoint"
    assert sorted((r["src_domain"], r["tgt_domain"]) for r in rows) == [("high", "mid"), ("low", "mid")]
    for r in rows:
        assert (out / r["converted"]).is_file() and r["converted"].startswith("wav/")
        assert sf.info(str(out / r["converted"])).frames == sf.info(str(out / r["source"])).frames
        assert r["target_ref"] is None and r["mcd"] is None  # the synthetic texts are not parallel
        assert r["domain_pred"] in DEFAULT_DOMAINS and r["f0_alignment"] == "frames"
    assert list(scores["summary"]["by_target"]) == ["mid"] and scores["summary"]["overall"]["f0_corr"]["n"] == 2
    assert scores["classifier"]["dev_utterances"] == 3 and (exp / "eval").glob("domain_classifier_*.pt")
    assert "MCD skipped: no parallel target reference" in proc.stderr
    _check_report(out / "report.html")

    # The same conversions as a pairs file, judged by the experiment's cached classifier.
    pairs = _write_pairs(tmp_path / "pairs.tsv", ["converted", "source", "src_domain", "tgt_domain"],
                         [[out / r["converted"], out / r["source"], r["src_domain"], r["tgt_domain"]] for r in rows])
    code, stdout, stderr = _main(["--pairs", pairs, "--ckpt", ckpt, "--out", tmp_path / "again", "--workers", "1",
                                  "--silence-gate-db", "30",
                                  "--set", "eval.classifier_steps=20", "--set", "eval.f0_method=dio",
                                  "--set", "eval.naturalness=false", "--set", "eval.asr=false",
                                  "--set", "eval.speaker_similarity=false"], capsys)
    assert code == 0, stderr
    assert "domain classifier loaded" in stderr
    # told the conversions went through a 30 dB gate: the statistical conversion through it is weighed too
    assert stdout.strip().splitlines()[-1].startswith("vs statistical_gated baseline: ")
    again = json.loads((tmp_path / "again" / "scores.json").read_text())
    assert [r["domain_pred"] for r in again["utterances"]] == [r["domain_pred"] for r in rows]
    assert [r["f0_corr"] for r in again["utterances"]] == [r["f0_corr"] for r in rows]


def test_parallel_reference_and_dump_lookup(tmp_path):
    from vc.config import ExperimentConfig
    from vc.data.dump import Utterance
    from vc.errors import DataError
    from vc.eval.evaluate import _parallel_reference, _text_key, resolve_dump_dir

    utts = [Utterance("a_1", "a", "/a1.wav", 1.0, "Please call Stella."),
            Utterance("b_1", "b", "/b1.wav", 1.0, "please call stella"),
            Utterance("b_2", "b", "/b2.wav", 1.0, "Please, call Stella!"),
            Utterance("b_3", "b", "/b3.wav", 1.0, "")]
    by_text: dict = {}
    for u in utts:
        if _text_key(u.text):
            by_text.setdefault((u.domain, _text_key(u.text)), []).append(u)
    assert _parallel_reference(utts[0], "b", by_text, {"a_1", "b_2"}).utt_id == "b_2"  # the same split first
    assert _parallel_reference(utts[0], "b", by_text, {"a_1"}).utt_id == "b_1"
    assert _parallel_reference(utts[3], "a", by_text, set()) is None  # no text, no reference

    # A relative data.dump_dir is found from the folder training ran in.
    cfg = ExperimentConfig()
    cfg.data.dump_dir, cfg.train.out_dir = "dump", "exp/run1"
    (tmp_path / "recipe" / "dump").mkdir(parents=True)
    (tmp_path / "recipe" / "dump" / "domains.json").write_text("{}")
    assert resolve_dump_dir(cfg, tmp_path / "recipe" / "exp" / "run1") == tmp_path / "recipe" / "dump"
    with pytest.raises(DataError, match="pass --dump DIR"):
        resolve_dump_dir(cfg, tmp_path / "elsewhere" / "run1")
