"""The listening report: ``report.html`` with audio players and matplotlib plots beside it.

The page is self-contained: inline CSS, no JavaScript, no CDN; every audio file and picture it shows
is a relative link into its own folder (``wav/``, ``plots/``), so the folder can be zipped, copied
or served as it is.
"""

from __future__ import annotations

import html
import os
from pathlib import Path

import numpy as np

from vc.eval.metrics import SCORES, ScoreSpec, behind, format_diff, verdict_baseline
from vc.io import atomic_path, write_text_atomic

DIRECTION = {"lower": "lower is better", "higher": "higher is better", "none": "informative"}

_CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1100px; color: #222; padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { margin-top: 2em; border-bottom: 1px solid #ccc; } h3 { margin-bottom: .3em; }
table { border-collapse: collapse; margin: .5em 0; font-size: .92em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #f2f2f2; }
.dir { color: #666; font-size: .85em; text-align: left; }
.n { color: #888; font-size: .8em; }
.meta, .notes { color: #444; }
.pair { margin: 1.2em 0 2em; }
.players { display: flex; flex-wrap: wrap; gap: 1em; }
.players figure { margin: 0; }
.players figcaption { font-size: .85em; color: #555; }
.text { font-style: italic; color: #444; }
img.plot { max-width: 100%; border: 1px solid #ddd; margin-top: .5em; }
.failed { color: #a00; }
td.behind { background: #fbe3e3; }
"""


# --- plots ------------------------------------------------------------------------------------------
def _spectrogram_db(wav: np.ndarray, sr: int) -> tuple[np.ndarray, int]:
    """``(F, T)`` magnitude in dB (0 at the clip's peak, floored at -80) and the hop used."""
    import librosa

    n_fft = 1 << int(np.ceil(np.log2(0.032 * sr)))  # ~32 ms windows
    hop = n_fft // 4
    mag = np.abs(librosa.stft(np.asarray(wav, dtype=np.float32), n_fft=n_fft, hop_length=hop))
    return librosa.amplitude_to_db(mag, ref=np.max, top_db=80.0), hop


def plot_pair(path: str | os.PathLike, clips: list[tuple[str, np.ndarray]], f0s: list[tuple[str, np.ndarray]],
              sr: int, frame_period_ms: float, title: str = "") -> None:
    """One PNG: a spectrogram per clip (``(label, wav (T,))``), then their F0 contours (Hz, unvoiced
    frames left out) on one time axis. Written atomically with matplotlib's Agg canvas."""
    from matplotlib.figure import Figure

    rows = len(clips) + 1
    height = 1.55 * rows + 0.6
    fig = Figure(figsize=(9.0, height), dpi=72)
    # Fixed margins: matplotlib's constrained layout would double the time each picture takes.
    fig.subplots_adjust(left=0.075, right=0.985, bottom=0.5 / height, top=1.0 - 0.45 / height, hspace=0.45)
    axes = fig.subplots(rows, 1, sharex=True)
    for ax, (label, wav) in zip(axes, clips):
        spec, hop = _spectrogram_db(wav, sr)
        extent = (0.0, spec.shape[1] * hop / sr, 0.0, sr / 2000.0)
        ax.imshow(spec, origin="lower", aspect="auto", extent=extent, cmap="magma", vmin=-80.0, vmax=0.0)
        ax.set_ylabel("kHz")
        ax.set_title(label, fontsize=9, loc="left")
    ax = axes[-1]
    for label, f0 in f0s:
        t = np.arange(len(f0)) * frame_period_ms / 1000.0
        ax.plot(t, np.where(f0 > 0, f0, np.nan), label=label, linewidth=1.2)
    ax.set_ylabel("F0 (Hz)")
    ax.set_xlabel("time (s)")
    ax.set_title("F0", fontsize=9, loc="left")
    if f0s:
        ax.legend(fontsize=8, loc="upper right")
    if title:
        fig.suptitle(title, fontsize=10, y=1.0 - 0.08 / height, va="top")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")


# --- HTML -------------------------------------------------------------------------------------------
def _esc(value) -> str:
    return html.escape(str(value), quote=True)


def _href(path: str) -> str:
    """A relative link with each path segment URL-quoted (file names may hold spaces or '#')."""
    from urllib.parse import quote

    return _esc("/".join(quote(part) for part in Path(path).as_posix().split("/")))


def format_value(spec: ScoreSpec, value) -> str:
    return "–" if value is None else spec.fmt.format(value)


def format_ci(spec: ScoreSpec, summary: dict | None) -> str:
    """``mean ± half-width (n=…)`` as HTML, ``–`` when there is nothing to show."""
    if not summary or summary.get("mean") is None:
        return "–"
    text = format_value(spec, summary["mean"])
    ci = summary.get("ci95")
    if ci is not None:
        if spec.proportion:
            text += f" [{format_value(spec, ci[0])}, {format_value(spec, ci[1])}]"
        else:
            text += f" ± {format_value(spec, (ci[1] - ci[0]) / 2)}"
    return f"{_esc(text)} <span class=\"n\">(n={summary['n']})</span>"


def _summary_table(scores: dict, specs: list[ScoreSpec]) -> str:
    targets = list(scores["summary"]["by_target"])
    head = "".join(f"<th>→ {_esc(t)}</th>" for t in targets)
    out = ["<table class=\"summary\"><thead><tr><th>score</th><th>direction</th><th>all</th>"
           f"{head}</tr></thead><tbody>"]
    for s in specs:
        cells = [format_ci(s, scores["summary"]["overall"].get(s.key))]
        cells += [format_ci(s, scores["summary"]["by_target"][t].get(s.key)) for t in targets]
        out.append(f"<tr><td>{_esc(s.label)}</td><td class=\"dir\">{_esc(DIRECTION[s.direction])}</td>"
                   + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def _baseline_section(scores: dict, specs: list[ScoreSpec]) -> str:
    """Every system's means side by side, then vc minus each baseline with its 95% interval."""
    baselines = scores.get("baselines") or {}
    if not baselines:
        return ""
    shown = [s for s in specs if s.direction != "none"]
    out = ["<h2>Against simple baselines</h2>",
           "<p class=\"notes\">The same code scores, on the same utterances, what a user would get without the "
           "model. Differences are vc minus the baseline over the conversions both have, with a 95% interval "
           "(Student t on the paired differences); <b>bold</b>: vc is better on the mean.</p>",
           "<table class=\"summary\"><thead><tr><th>system</th>"
           + "".join(f"<th>{_esc(s.label)}</th>" for s in shown) + "</tr></thead><tbody>"]
    systems = [("vc (this model)", scores["summary"]["overall"])]
    systems += [(f"{name}: {b.get('description', '')}", b["summary"]["overall"]) for name, b in baselines.items()]
    for label, summary in systems:
        cells = "".join(f"<td>{format_ci(s, summary.get(s.key))}</td>" for s in shown)
        out.append(f"<tr><td>{_esc(label)}</td>{cells}</tr>")
    for name, comp in (scores.get("comparison") or {}).items():
        cells = []
        for s in shown:
            c = comp.get(s.key)
            if not c:
                cells.append("–")
                continue
            text = _diff_text(s, c)
            cells.append(f"<b>{_esc(text)}</b>" if c["better"] == "system" else _esc(text))
        out.append(f"<tr><td>vc − {_esc(name)}</td>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    out.append("</tbody></table>")
    out.append(_pair_comparison(scores, shown))
    return "\n".join(out)


def _diff_text(spec: ScoreSpec, c: dict) -> str:
    """One paired difference (a :func:`~vc.eval.metrics.compare` entry) as text: ``+0.42 [+0.1, +0.7]``."""
    text = format_diff(spec, c["diff"])
    if c.get("ci95"):
        text += f" [{format_diff(spec, c['ci95'][0])}, {format_diff(spec, c['ci95'][1])}]"
    return text


def _diff_cell(spec: ScoreSpec, c: dict | None) -> str:
    """One paired difference as a table cell: bold where vc is ahead on the mean, marked where the
    baseline is ahead with 95% confidence."""
    if not c:
        return "<td>–</td>"
    text = _esc(_diff_text(spec, c)) + f" <span class=\"n\">(n={c['n']})</span>"
    if c["better"] == "system":
        return f"<td><b>{text}</b></td>"
    return f"<td class=\"behind\">{text}</td>" if behind(c) else f"<td>{text}</td>"


def _pair_comparison(scores: dict, shown: list[ScoreSpec]) -> str:
    """vc minus the verdict's baseline within each ordered domain pair (``comparison_by_pair``)."""
    name = verdict_baseline(scores, "comparison_by_pair")
    entries = (scores.get("comparison_by_pair") or {}).get(name) or []
    if len(entries) < 2:
        return ""
    out = [f"<h3>vc − {_esc(name)}, per domain pair</h3>",
           "<p class=\"notes\">The same paired differences within each source → target pair, so a voice pair "
           "the model converts worse than the baseline does not hide in the mean. Shaded: the baseline is "
           "ahead with 95% confidence. Each interval rests on that pair's few conversions, and with many "
           "cells a few miss by chance: a pointer for listening.</p>",
           "<table class=\"summary\"><thead><tr><th>pair</th>"
           + "".join(f"<th>{_esc(s.label)}</th>" for s in shown) + "</tr></thead><tbody>"]
    for e in entries:
        out.append(f"<tr><td>{_esc(e['src'])} → {_esc(e['tgt'])}</td>"
                   + "".join(_diff_cell(s, e["scores"].get(s.key)) for s in shown) + "</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def _player(label: str, path: str | None) -> str:
    if not path:
        return f"<figure><figcaption>{_esc(label)}</figcaption><em>none</em></figure>"
    return (f"<figure><figcaption>{_esc(label)}</figcaption>"
            f"<audio controls preload=\"none\" src=\"{_href(path)}\"></audio></figure>")


def _pair_section(row: dict, specs: list[ScoreSpec], others: dict[str, str] | None = None) -> str:
    anchor = _esc("pair-" + row["id"])
    out = [f"<section class=\"pair\" id=\"{anchor}\">",
           f"<h3>{_esc(row['id'])}: {_esc(row['src_domain'])} → {_esc(row['tgt_domain'])}</h3>"]
    if row.get("text"):
        out.append(f"<p class=\"text\">“{_esc(row['text'])}”</p>")
    shown = [s for s in specs if row.get(s.key) is not None]
    if shown:
        out.append("<table class=\"scores\"><tr>" + "".join(f"<th>{_esc(s.label)}</th>" for s in shown) + "</tr><tr>"
                   + "".join(f"<td>{_esc(format_value(s, row[s.key]))}</td>" for s in shown) + "</tr></table>")
    extra = []
    if row.get("domain_pred"):
        extra.append(f"classifier's verdict: {_esc(row['domain_pred'])}")
    if row.get("asr_hyp") is not None:
        extra.append(f"recognised: “{_esc(row['asr_hyp'])}”")
    if extra:
        out.append(f"<p class=\"notes\">{' · '.join(extra)}</p>")
    out.append("<div class=\"players\">" + _player("source", row.get("source"))
               + _player("target reference", row.get("target_ref")) + _player("converted", row.get("converted"))
               + "".join(_player(f"baseline: {name}", path) for name, path in (others or {}).items()
                         if name != "source")
               + "</div>")
    if row.get("plot"):
        out.append(f"<img class=\"plot\" src=\"{_href(row['plot'])}\" alt=\"spectrograms and F0 of {anchor}\">")
    out.append("</section>")
    return "\n".join(out)


def render_html(scores: dict) -> str:
    """The report page for a ``scores.json`` dict (paths in it are relative to the report's folder)."""
    rows = scores["utterances"]
    specs = [s for s in SCORES if any(r.get(s.key) is not None for r in rows)] or list(SCORES[:1])
    what = scores.get("checkpoint") or scores.get("pairs_file") or ""
    meta = [f"{len(rows)} conversion{'s' if len(rows) != 1 else ''} scored"]
    if scores.get("split"):
        meta.append(f"split {scores['split']}")
    if what:
        meta.append(what)
    meta.append(f"scored at {scores['sample_rate']} Hz")
    body = [
        "<!DOCTYPE html>",
        "<html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>vc-eval report{(' – ' + _esc(Path(what).name)) if what else ''}</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>Voice conversion: objective scores and listening report</h1>",
        f"<p class=\"meta\">{' · '.join(_esc(m) for m in meta)}</p>",
        "<h2>Summary</h2>",
        "<p class=\"notes\">Means with 95% confidence intervals (Student t; Wilson for accuracies), over all "
        "conversions and per target domain. Definitions: see the README's Metrics section.</p>",
        _summary_table(scores, specs),
    ]
    clf = scores.get("classifier")
    if clf:
        acc = clf.get("dev_accuracy")
        body.append(f"<p class=\"notes\">Domain classifier accuracy on real dev audio: "
                    f"{'–' if acc is None else f'{acc:.1%}'} (n={clf.get('dev_utterances', 0)}).</p>")
    skipped = scores.get("skipped") or {}
    if skipped:
        body.append("<ul class=\"notes\">" + "".join(f"<li>{_esc(line)}</li>" for line in skipped.values()) + "</ul>")
    body.append(_baseline_section(scores, specs))
    others: dict[str, dict[str, str]] = {}
    for name, b in (scores.get("baselines") or {}).items():
        for r in b.get("utterances", []):
            others.setdefault(r["pair"], {})[name] = r["converted"]
    body.append("<h2>Conversions</h2>")
    body += [_pair_section(r, specs, others.get(r.get("pair", r["id"]))) for r in rows]
    failed = scores.get("failed") or []
    if failed:
        body.append("<h2>Failed</h2><ul class=\"failed\">")
        body += [f"<li>{_esc(f['id'])}: {_esc(f['error'])}</li>" for f in failed]
        body.append("</ul>")
    body.append("</body></html>")
    return "\n".join(body) + "\n"


def write_report(path: str | os.PathLike, scores: dict) -> Path:
    """Write ``report.html`` atomically; returns its path."""
    write_text_atomic(path, render_html(scores))
    return Path(path)
