"""The baselines vc-eval scores beside every model: no conversion, WORLD resynthesis, the statistical
conversion; their paired comparison with the model and the verdict line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
from synth import DEFAULT_DOMAINS, speech_like

from vc.eval import EvalConfig, evaluate_pairs
from vc.eval import baselines as B
from vc.eval import metrics as M
from vc.eval.evaluate import baseline_verdict, pair_verdict
from vc.features import world
from vc.features.config import FeatureConfig

SR = 16000
WORLD = FeatureConfig(kind="world", sample_rate=SR, f0_method="dio")
FAST = dict(f0_method="dio", speaker_similarity=False, naturalness=False, asr=False, num_workers=1,
            classifier_steps=0)


def _clips(domain: str, n: int = 3, seconds: float = 1.0) -> list[np.ndarray]:
    params = DEFAULT_DOMAINS[domain]
    return [speech_like(seconds, SR, seed=70 + i, **params) for i in range(n)]


def _rms(wav: np.ndarray) -> float:
    from vc.convert.converter import _rms as loud_rms

    return loud_rms(wav)


def test_statistical_conversion_moves_every_moment_to_the_target():
    clips = {"low": _clips("low"), "high": _clips("high")}
    conv = B.StatisticalConversion.fit(WORLD, clips)
    src, tgt = conv.domains["low"], conv.domains["high"]
    # converting exactly the frames the source statistics came from lands exactly on the target's
    sps, f0s = [], []
    for wav in clips["low"]:
        sp, f0, _ = world.analyze(wav, WORLD)
        sps.append(sp[f0 > 0])
        f0s.append(f0[f0 > 0])
    sp, f0 = np.concatenate(sps), np.concatenate(f0s)
    sp_out, f0_out = conv.convert_features(sp, f0, "low", "high")
    np.testing.assert_allclose(sp_out.mean(0), tgt.mean, atol=1e-4)
    np.testing.assert_allclose(sp_out.std(0), tgt.std, rtol=1e-4)
    assert np.log(f0_out).mean() == pytest.approx(tgt.lf0_mean, abs=1e-4)
    assert np.log(f0_out).std() == pytest.approx(tgt.lf0_std, rel=1e-4)
    assert not np.allclose(src.mean, tgt.mean)  # the check can fail: the domains do differ
    # unvoiced frames stay unvoiced
    _, f0_back = conv.convert_features(sp[:3], np.array([0.0, 120.0, 0.0]), "low", "high")
    assert f0_back[0] == 0 and f0_back[2] == 0 and f0_back[1] > 0

    # the waveform: the source's length and loudness, the target's register
    wav = clips["low"][0]
    out = conv(wav, "low", "high")
    assert out.shape == wav.shape and np.isfinite(out).all() and np.abs(out).max() < 1.0
    assert _rms(out) == pytest.approx(_rms(wav), rel=0.05)
    f0_in, f0_conv = world.f0(wav, WORLD), world.f0(out, WORLD)
    both = (f0_in > 0) & (f0_conv > 0)
    assert np.log(f0_conv[both] / f0_in[both]).mean() == pytest.approx(tgt.lf0_mean - src.lf0_mean, abs=0.1)


def test_statistics_need_voiced_frames():
    with pytest.raises(ValueError, match="'quiet'.*too few voiced frames"):
        B.StatisticalConversion.fit(WORLD, {"quiet": [np.zeros(SR, dtype=np.float32)]})


def test_resynthesis_is_close_to_its_source():
    wav = _clips("mid", n=1)[0]
    out = B.resynthesize(wav, WORLD)
    assert out.shape == wav.shape and _rms(out) == pytest.approx(_rms(wav), rel=0.05)
    alpha = M.all_pass_constant(SR)
    mc = [M.mel_cepstrum(world.spectral_envelope(w, WORLD), 24, alpha) for w in (wav, out)]
    same, _ = M.mcd(mc[0], mc[1])
    other = _clips("high", n=1)[0]
    different, _ = M.mcd(mc[0], M.mel_cepstrum(world.spectral_envelope(other, WORLD), 24, alpha))
    assert same < 0.75 * different, (same, different)  # WORLD resynthesis is close, not exact


def test_the_gated_statistical_conversion_lowers_the_pauses_only():
    """``statistical_gated`` is the statistical conversion with the converter's silence gate keyed by
    the source: the speech stays as it was, the noise of a long pause goes far down."""
    clips = {"low": _clips("low"), "high": _clips("high")}
    conv = B.StatisticalConversion.fit(WORLD, clips)
    rng = np.random.default_rng(3)
    speech = clips["low"][0]
    pause = (3e-4 * rng.standard_normal(SR // 2)).astype(np.float32)   # room noise, ~39 dB under the loud level
    wav = np.concatenate([speech, pause])
    plain = conv(wav, "low", "high")
    gated = conv(wav, "low", "high", gate=(30.0, 3.0))
    assert gated.shape == plain.shape == wav.shape
    n = len(speech)
    tail = slice(n + SR // 10, None)  # past the gate's smoothing
    assert _rms(gated[tail]) < 0.3 * _rms(plain[tail]), (_rms(gated[tail]), _rms(plain[tail]))
    assert _rms(gated[:n]) == pytest.approx(_rms(plain[:n]), rel=0.1)
    np.testing.assert_array_equal(conv(wav, "low", "high", gate=(0.0, 3.0)), plain)  # 0 dB: no gate


def test_world_config_keeps_the_experiments_rate_and_pitch_settings():
    mel = FeatureConfig(sample_rate=22050, f0_method="dio", f0_floor=60.0, f0_ceil=500.0)
    cfg = B.world_config(mel)
    assert (cfg.kind, cfg.sample_rate, cfg.f0_method, cfg.f0_floor, cfg.f0_ceil) == ("world", 22050, "dio", 60.0, 500.0)
    assert B.world_config(WORLD) is WORLD


def test_compare_is_paired_and_knows_each_scores_direction():
    rows = [{"pair": f"p{i}", "mcd": 6.0 + i, "f0_corr": 0.9, "spk_id_correct": 1.0} for i in range(4)]
    base = [{"pair": f"p{i}", "mcd": 7.0 + 2 * i, "f0_corr": 0.9, "spk_id_correct": 0.0} for i in range(4)]
    base.append({"pair": "only-in-baseline", "mcd": 100.0})
    comp = M.compare(rows, base)
    mcd = comp["mcd"]
    diffs = np.array([-1.0, -2.0, -3.0, -4.0])
    assert mcd["n"] == 4 and mcd["diff"] == pytest.approx(diffs.mean())
    assert mcd["system"] == pytest.approx(7.5) and mcd["baseline"] == pytest.approx(10.0)  # matched pairs only
    half = M.mean_ci(diffs)["ci95"]
    assert mcd["ci95"] == pytest.approx(half)
    assert mcd["better"] == "system"  # lower MCD is better
    assert comp["f0_corr"]["better"] == "tie" and comp["spk_id_correct"]["better"] == "system"
    assert "lf0_rmse" not in comp  # informative scores have no direction and are not compared
    worse = M.compare(base[:4], rows)
    assert worse["mcd"]["better"] == "baseline" and worse["spk_id_correct"]["better"] == "baseline"


def _scores(comparison: dict) -> dict:
    return {"comparison": comparison}


def test_verdict_says_when_the_model_does_not_beat_the_baseline():
    beat = {"mcd": {"system": 6.0, "baseline": 7.0, "diff": -1.0, "ci95": [-1.5, -0.5], "n": 9, "better": "system"},
            "dnsmos": {"system": 3.1, "baseline": 3.0, "diff": 0.1, "ci95": [0.02, 0.2], "n": 9, "better": "system"}}
    line = baseline_verdict(_scores({"statistical": beat}))
    assert line.startswith("vs statistical baseline: MCD (dB) 6.00 vs 7.00 (-1.00, 95% CI -1.50..-0.50); DNSMOS")
    assert line.endswith("=> vc beats the statistical baseline on every score shown")
    lose = {**beat, "dnsmos": {**beat["dnsmos"], "system": 2.1, "diff": -0.9, "better": "baseline"}}
    line = baseline_verdict(_scores({"source": beat, "statistical": lose}))
    assert line.endswith("=> vc does NOT beat the statistical baseline on: DNSMOS P.835 overall")
    # ahead on average, but with an interval that reaches zero: not counted as beaten
    noisy = {**beat, "dnsmos": {**beat["dnsmos"], "ci95": [-0.04, 0.24]}}
    line = baseline_verdict(_scores({"statistical": noisy}))
    assert line.endswith("=> vc does NOT beat the statistical baseline on: DNSMOS P.835 overall "
                         "(ahead within the 95% CI only)")
    # DNSMOS's P.808 model is weighed too: level on P.835 overall but behind on P.808 is named
    p808 = {**beat, "dnsmos_p808": {"system": 2.7, "baseline": 2.9, "diff": -0.2, "ci95": [-0.3, -0.1], "n": 9,
                                    "better": "baseline"}}
    line = baseline_verdict(_scores({"statistical": p808}))
    assert "DNSMOS P.808 overall 2.70 vs 2.90 (-0.20, 95% CI -0.30..-0.10)" in line
    assert line.endswith("=> vc does NOT beat the statistical baseline on: DNSMOS P.808 overall")
    assert baseline_verdict(_scores({})) == ""
    # without the statistical baseline, the first one scored
    assert baseline_verdict(_scores({"source": beat})).startswith("vs source baseline:")


def test_pairs_are_compared_one_by_one_and_the_line_names_those_the_baseline_wins():
    rng = np.random.default_rng(0)
    rows, base = [], []
    for src, tgt, gap in (("a", "b", -0.5), ("b", "a", 0.3), ("a", "c", -0.05)):
        for i in range(8):
            pid = f"{src}{i}_to_{tgt}"
            value = 3.0 + rng.normal(0, 0.05)
            rows.append({"pair": pid, "src_domain": src, "tgt_domain": tgt, "dnsmos": value + gap + rng.normal(0, 0.05),
                         "spk_id_correct": 1.0})
            base.append({"pair": pid, "dnsmos": value, "spk_id_correct": float(i % 2)})
    by_pair = M.compare_by_pair(rows, base)
    assert [(e["src"], e["tgt"]) for e in by_pair] == [("a", "b"), ("b", "a"), ("a", "c")]
    ab, ba, ac = (e["scores"] for e in by_pair)
    assert ab["dnsmos"]["n"] == 8 and ab["dnsmos"]["diff"] == pytest.approx(M.compare(rows[:8], base)["dnsmos"]["diff"])
    assert M.behind(ab["dnsmos"]) and not M.behind(ba["dnsmos"]) and ba["dnsmos"]["better"] == "system"
    # a difference of shares stays within ±100 points whatever the t interval says
    lo, hi = ab["spk_id_correct"]["ci95"]
    assert -1.0 <= lo <= hi <= 1.0 and ab["spk_id_correct"]["diff"] == pytest.approx(0.5)
    scores = {"comparison_by_pair": {"source": [], "statistical": by_pair}}
    line = pair_verdict(scores)
    assert line.startswith("per domain pair vs statistical baseline (3 pairs): baseline ahead with 95% confidence on "
                           "DNSMOS P.835 overall: a→b -0.")
    assert "b→a" not in line and "speaker-ID" not in line
    if M.behind(ac["dnsmos"]):  # a small gap may or may not be flagged; it must be named when it is
        assert "a→c" in line
    won = [{**e, "scores": {"dnsmos": {**e["scores"]["dnsmos"], "better": "system"}}} for e in by_pair]
    assert pair_verdict({"comparison_by_pair": {"statistical": won}}).endswith(
        "no pair where the baseline is ahead with 95% confidence")
    assert pair_verdict({"comparison_by_pair": {}}) == "" and pair_verdict({}) == ""


@pytest.fixture(scope="module")
def pairs_with_dump(prepared_dump, tmp_path_factory):
    """A pairs file whose "conversions" are copies of their sources, with the prepared dump."""
    from vc.data import Dump

    cfg, dump_dir = prepared_dump
    dump = Dump(dump_dir, cfg.features)
    tmp = tmp_path_factory.mktemp("baseline_pairs")
    test = dump.utterances("test")
    rows = ["converted\tsource\tsrc_domain\ttgt_domain\ttarget_ref"]
    for u in test:
        for v in test:
            if v.domain != u.domain:
                copy = tmp / f"{u.utt_id}_to_{v.domain}.wav"
                wav, sr = sf.read(u.path, dtype="float32")
                sf.write(copy, wav, sr)
                rows.append(f"{copy}\t{u.path}\t{u.domain}\t{v.domain}\t{v.path}")
    path = tmp / "pairs.tsv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path, dump, len(rows) - 1


def test_every_report_scores_the_baselines_on_the_same_utterances(pairs_with_dump, tmp_path):
    path, dump, n = pairs_with_dump
    res = evaluate_pairs(path, tmp_path / "out", EvalConfig(**FAST), dump=dump, log=lambda _: None, progress=False)
    scores = json.loads((tmp_path / "out" / "scores.json").read_text())
    assert list(scores["baselines"]) == ["source", "resynth", "statistical"]  # no gate given: no gated row
    for name, b in scores["baselines"].items():
        assert b["description"] == B.BASELINES[name]
        assert len(b["utterances"]) == n, name
        assert {r["pair"] for r in b["utterances"]} == {r["id"] for r in scores["utterances"]}
        for r in b["utterances"]:
            assert (tmp_path / "out" / r["converted"]).is_file()
            assert sf.info(str(tmp_path / "out" / r["converted"])).frames == sf.info(
                str(tmp_path / "out" / r["source"])).frames
    # "vc" here is the source itself, so the same code must give the source baseline the same scores
    comp = scores["comparison"]["source"]
    for key in ("mcd", "f0_corr", "lf0_rmse_centered", "vuv_error"):
        assert comp[key]["diff"] == 0.0 and comp[key]["better"] == "tie", key
    assert scores["summary"]["overall"]["f0_corr"]["mean"] == pytest.approx(1.0)
    # the statistical conversion moves the register towards the target: its raw log-F0 distance from
    # the source is about the distance between the domains' means (100, 160, 230 Hz)
    stat = scores["baselines"]["statistical"]["summary"]["overall"]
    assert stat["lf0_rmse"]["mean"] > 0.3 and stat["f0_corr"]["mean"] > 0.8
    resynth = scores["baselines"]["resynth"]["summary"]["overall"]
    assert resynth["lf0_rmse"]["mean"] < 0.1
    # statistics came from the dump's training split, through its stats when they hold the moments
    assert res.verdict.startswith("vs statistical baseline: ")
    domains = {r["src_domain"] for r in scores["utterances"]}
    for name in scores["baselines"]:
        entries = scores["comparison_by_pair"][name]
        assert len(entries) == len(domains) * (len(domains) - 1), name  # every ordered pair, once
        assert sum(e["scores"]["f0_corr"]["n"] for e in entries) == n
    assert all(e["scores"]["mcd"]["diff"] == 0.0 for e in scores["comparison_by_pair"]["source"])
    assert res.pair_verdict.startswith(f"per domain pair vs statistical baseline ({len(entries)} pairs): ")
    html = res.report_path.read_text(encoding="utf-8")
    assert "Against simple baselines" in html and "baseline: statistical" in html and "vc − statistical" in html
    assert "vc − statistical, per domain pair" in html


def test_the_gated_baseline_is_scored_when_the_conversions_have_a_gate(pairs_with_dump, tmp_path):
    path, dump, n = pairs_with_dump
    fast = EvalConfig(**FAST, baselines=["statistical", "statistical_gated"])
    lines: list[str] = []
    res = evaluate_pairs(path, tmp_path / "gated", fast, dump=dump, log=lines.append, progress=False,
                         silence_gate=(30.0, 3.0))
    scores = res.scores
    assert list(scores["baselines"]) == ["statistical", "statistical_gated"]
    assert len(scores["baselines"]["statistical_gated"]["utterances"]) == n
    assert scores["settings"]["silence_gate"] == {"threshold_db": 30.0, "ratio": 3.0}
    for r in scores["baselines"]["statistical_gated"]["utterances"]:
        assert r["converted"].startswith("wav/") and (tmp_path / "gated" / r["converted"]).is_file()
    assert res.verdict.startswith("vs statistical baseline: ")
    assert res.gated_verdict.startswith("vs statistical_gated baseline: ") and " => vc " in res.gated_verdict
    assert "vc − statistical_gated" in res.report_path.read_text(encoding="utf-8")
    # without a gate (or without knowing it) the row would repeat the statistical one: skipped, said once
    for gate, why in (((0.0, 3.0), "the conversions have no silence gate"),
                      (None, "pass --ckpt, --config or --silence-gate-db")):
        lines.clear()
        res = evaluate_pairs(path, tmp_path / f"gate{gate}", fast, dump=dump, log=lines.append, progress=False,
                             silence_gate=gate)
        assert list(res.scores["baselines"]) == ["statistical"] and res.gated_verdict == ""
        assert why in res.scores["skipped"]["baseline_statistical_gated"]
        assert sum("statistical_gated baseline skipped" in line for line in lines) == 1


def test_baselines_can_be_switched_off_and_need_a_dump_for_statistics(pairs_with_dump, tmp_path):
    path, dump, _ = pairs_with_dump
    lines: list[str] = []
    res = evaluate_pairs(path, tmp_path / "none", EvalConfig(**FAST, baselines=[]), dump=dump, log=lines.append,
                         progress=False)
    assert res.scores["baselines"] == {} and res.verdict == ""
    res = evaluate_pairs(path, tmp_path / "nodump", EvalConfig(**FAST), log=lines.append, progress=False)
    assert list(res.scores["baselines"]) == ["source", "resynth"]
    assert "statistical baseline skipped" in res.scores["skipped"]["baseline_statistical"]
    assert res.verdict.startswith("vs source baseline: ")
    # the gated one as well: its statistics come from the same dump
    res = evaluate_pairs(path, tmp_path / "nodump2", EvalConfig(**FAST, baselines=["statistical_gated"]),
                         log=lines.append, progress=False, silence_gate=(30.0, 3.0))
    assert res.scores["baselines"] == {} and "dump" in res.scores["skipped"]["baseline_statistical_gated"]
    with pytest.raises(ValueError, match="unknown baseline 'vocoder'"):
        EvalConfig(baselines=["vocoder"])
    # the config's list of names is the module's, in the same (report) order
    from vc.eval.config import BASELINE_NAMES

    assert BASELINE_NAMES == tuple(B.BASELINES)


def test_statistics_of_a_world_dump_come_from_its_stats(tmp_path, tiny_corpus, make_config):
    """On a WORLD dump the baseline uses stats.h5's per-domain moments, the very statistics the model's
    statistical base starts from, and they agree with a direct computation over the training frames."""
    from vc.data import Dump, prepare

    cfg = make_config(tiny_corpus, tmp_path / "dump", features={"kind": "world"})
    prepare(cfg, progress=False)
    dump = Dump(cfg.data.dump_dir, cfg.features)
    conv = B.fit_from_dump(dump)
    direct = {}
    for d in dump.domains:
        frames = [dump.load(u.utt_id) for u in dump.utterances("train") if u.domain == d]
        sp = np.concatenate([f.feats[f.f0 > 0] for f in frames])
        direct[d] = B.StatisticalConversion.spectra(sp, np.concatenate([np.log(f.f0[f.f0 > 0]) for f in frames]))
    for d in dump.domains:
        np.testing.assert_allclose(conv.domains[d].mean, direct[d].mean, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(conv.domains[d].std, direct[d].std, rtol=1e-4)
        assert conv.domains[d].lf0_mean == pytest.approx(direct[d].lf0_mean, abs=1e-6)
