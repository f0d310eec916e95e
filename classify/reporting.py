"""A one-page HTML report on a predictions file: the category mix, confidence, the review queue, the model.

The page is self-contained (no script, stylesheet, font or image is fetched): charts are matplotlib
figures embedded as inline SVG with their text drawn as paths, so Chinese in a chart shows as
long as matplotlib has a CJK font when the report is built; everything else on the page is HTML
text, which the browser renders with its own fonts. The numbers shown are returned as a dict.
"""

from __future__ import annotations

import contextlib
import html
import io
import json
import re
import warnings
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from classify.labels import LabelScheme
from classify.schema import read_predictions

CHART_NOTICES = 40  # notices drawn in the per-notice chart (the largest); the table below it lists them all
REVIEW_SHOWN = 200  # measures of the review queue listed on the page, least confident first
HIST_BINS = 20
# Fonts with CJK glyphs, most common first (Linux packages, then macOS and Windows).
CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Sans CJK TC", "Source Han Sans SC", "Source Han Sans CN",
             "Noto Serif CJK SC", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "Droid Sans Fallback",
             "AR PL UMing CN", "PingFang SC", "Heiti SC", "Microsoft YaHei", "SimHei")
_CJK_FILE = re.compile(r"cjk|wqy|wenquanyi|droidsansfallback|uming|ukai|sourcehan|simhei|msyh|pingfang", re.I)


# --- reading ----------------------------------------------------------------------------------


def _year(date: object) -> str | None:
    m = re.match(r"^(\d{4})\b", str(date)) if isinstance(date, str) else None
    return m.group(1) if m else None


def _counts(frame: pd.DataFrame, by: str, labels: tuple[str, ...]) -> dict[str, dict[str, int]]:
    """{group: {label: count}} with every category (zeros kept), groups in order of first appearance."""
    out: dict[str, dict[str, int]] = {}
    for group, label in zip(frame[by], frame["label"].astype(str), strict=True):
        out.setdefault(str(group), dict.fromkeys(labels, 0))[label] += 1
    return out


def report_numbers(frame: pd.DataFrame, labels: tuple[str, ...]) -> dict[str, Any]:
    """The numbers the page shows: counts per notice / issuer kind / year x label, confidence histogram, review."""
    kinds = frame["issuer_kind"].fillna("unknown") if "issuer_kind" in frame else pd.Series("unknown", frame.index)
    years = frame["date"].map(_year) if "date" in frame else pd.Series(None, frame.index, dtype=object)
    work = frame.assign(_kind=kinds.replace("", "unknown"), _year=years)
    dated = work[work["_year"].notna()]
    edges = np.linspace(0.0, 1.0, HIST_BINS + 1)
    conf = work["confidence"].clip(0, 1)
    flagged = work["needs_review"].astype(bool)
    per_notice = _counts(work, "notice", labels)
    return {
        "measures": len(work),
        "notices": len(per_notice),
        "labels": _total(per_notice),
        "per_notice": per_notice,
        "per_kind": dict(sorted(_counts(work, "_kind", labels).items())),
        "per_year": dict(sorted(_counts(dated, "_year", labels).items())),
        "undated": int(len(work) - len(dated)),
        "review": int(flagged.sum()),
        "confidence_edges": [round(float(e), 4) for e in edges],
        "confidence_counts": np.histogram(conf[~flagged], edges)[0].tolist(),
        "confidence_counts_review": np.histogram(conf[flagged], edges)[0].tolist(),
    }


def _total(table: Mapping[str, Mapping[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for row in table.values():
        for lab, n in row.items():
            total[lab] = total.get(lab, 0) + n
    return total


# --- charts -----------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def cjk_font_families() -> tuple[str, ...]:
    """CJK-capable font families matplotlib can use here (fonts installed after its cache was built included)."""
    from matplotlib import font_manager

    known = {f.name for f in font_manager.fontManager.ttflist}
    found = tuple(name for name in CJK_FONTS if name in known)
    if found:
        return found
    for path in font_manager.findSystemFonts():
        if _CJK_FILE.search(Path(path).name):
            try:
                font_manager.fontManager.addfont(path)
            except (OSError, RuntimeError, ValueError):  # a font file FreeType cannot read: skip it
                continue
    known = {f.name for f in font_manager.fontManager.ttflist}
    return tuple(name for name in CJK_FONTS if name in known)


def _svg(fig: Any, salt: str) -> str:
    """The figure as an inline ``<svg>`` element (the XML prolog and DOCTYPE dropped)."""
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": salt}):  # unique element ids across the page's several SVGs
        fig.savefig(buf, format="svg", bbox_inches="tight")
    text = buf.getvalue()
    return text[text.index("<svg"):]


@contextlib.contextmanager
def _chart_style() -> Iterator[None]:
    """Text as SVG paths, a CJK font as fallback where one exists; matplotlib's settings restored after."""
    import matplotlib

    # CJK font first: text drawn as paths uses the first font only, no per-glyph fallback (matplotlib 3.11);
    # the CJK fonts carry Latin glyphs too
    families = [*cjk_font_families()[:1], "DejaVu Sans"]
    with matplotlib.rc_context({"svg.fonttype": "path", "font.family": "sans-serif", "font.sans-serif": families,
                         "font.size": 9, "axes.spines.top": False, "axes.spines.right": False}), \
            warnings.catch_warnings():
        # without a CJK font a Chinese notice name draws as boxes; the page's own tables still show it
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from", category=UserWarning)
        yield


def mix_chart(table: Mapping[str, Mapping[str, int]], salt: str, scheme: LabelScheme) -> str:
    """Horizontal 100 % stacked bars (share of each category per row), the measure count at each bar's end."""
    from matplotlib.figure import Figure  # no pyplot: no backend, no global figure list

    rows = list(table)
    labels = [lab for lab in scheme.labels if any(table[r].get(lab, 0) for r in rows)] or list(scheme.labels)
    totals = np.array([sum(table[r].values()) for r in rows], dtype=float)
    with _chart_style():
        fig = Figure(figsize=(9, 0.9 + 0.28 * max(len(rows), 1)))
        ax = fig.subplots()
        left = np.zeros(len(rows))
        for lab in labels:
            share = np.array([table[r].get(lab, 0) for r in rows], dtype=float) / np.maximum(totals, 1)
            ax.barh(range(len(rows)), share, left=left, color=scheme.colour(lab), label=lab, height=0.75)
            left += share
        for y, n in enumerate(totals):
            ax.text(1.01, y, f"{int(n)}", va="center", fontsize=8)
        ax.set_yticks(range(len(rows)), rows)
        ax.invert_yaxis()  # first row on top, as in the table below the chart
        ax.set_xlim(0, 1.08)
        ax.set_xticks([0, 0.25, 0.5, 0.75, 1], ["0", "25%", "50%", "75%", "100%"])
        ax.legend(ncols=len(labels), loc="lower left", bbox_to_anchor=(0, 1.02 + 0.5 / max(len(rows), 1)),
                  frameon=False, fontsize=8)
        return _svg(fig, salt)


def confidence_chart(numbers: Mapping[str, Any], salt: str) -> str:
    """Histogram of the top label's confidence, measures flagged for review stacked on the others."""
    from matplotlib.figure import Figure

    edges = np.asarray(numbers["confidence_edges"])
    width = np.diff(edges)
    ok, review = np.asarray(numbers["confidence_counts"]), np.asarray(numbers["confidence_counts_review"])
    with _chart_style():
        fig = Figure(figsize=(9, 2.8))
        ax = fig.subplots()
        ax.bar(edges[:-1], ok, width=width, align="edge", color="#4c72b0", edgecolor="white", label="label kept")
        ax.bar(edges[:-1], review, width=width, align="edge", bottom=ok, color="#dd8452", edgecolor="white",
               label="needs review")
        ax.set_xlim(0, 1)
        ax.set_xlabel("confidence of the predicted category")
        ax.set_ylabel("measures")
        ax.legend(frameon=False)
        return _svg(fig, salt)


# --- page -------------------------------------------------------------------------------------

_CSS = """
body { font-family: system-ui, "Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei", sans-serif; margin: 2em auto;
       max-width: 1100px; color: #222; line-height: 1.45; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: .2em; } h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: .88em; margin: .6em 0; }
th, td { border: 1px solid #ddd; padding: .25em .5em; vertical-align: top; }
th { background: #f4f4f4; text-align: left; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
.meta { color: #666; font-size: .9em; } .swatch { display: inline-block; width: .9em; height: .9em;
       vertical-align: -.1em; margin-right: .3em; border-radius: 2px; }
.legend span { margin-right: 1.2em; white-space: nowrap; } .near { color: #555; font-size: .92em; }
.stat { display: inline-block; margin-right: 2em; } .stat b { font-size: 1.5em; }
svg { max-width: 100%; height: auto; }
"""


def _e(value: object) -> str:
    return html.escape("" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value))


def _count_table(table: Mapping[str, Mapping[str, int]], first: str, labels: tuple[str, ...]) -> str:
    head = "".join(f"<th>{_e(lab)}</th>" for lab in labels)
    rows = []
    for name, row in {**table, "total": _total(table)}.items():
        cells = "".join(f'<td class="n">{row.get(lab, 0)}</td>' for lab in labels)
        rows.append(f"<tr><th>{_e(name)}</th>{cells}<td class=\"n\">{sum(row.values())}</td></tr>")
    return f"<table><tr><th>{_e(first)}</th>{head}<th>measures</th></tr>{''.join(rows)}</table>"


def _nearest(explanation: object) -> str:
    """The nearest labelled examples from an ``explanation`` cell (JSON with a "nearest" list), as HTML."""
    if isinstance(explanation, str):
        try:
            explanation = json.loads(explanation)
        except json.JSONDecodeError:
            return ""
    if not isinstance(explanation, Mapping):
        return ""
    items = [n for n in explanation.get("nearest") or [] if isinstance(n, Mapping)]
    return "".join(f'<div class="near">{float(n.get("similarity", 0)):.2f} · {_e(n.get("label"))} · '
                   f'{_e(str(n.get("text", ""))[:50])}</div>' for n in items)


def _review_table(frame: pd.DataFrame, limit: int, scheme: LabelScheme) -> str:
    queue = frame[frame["needs_review"]].sort_values("confidence", kind="stable")
    if queue.empty:
        return "<p>No measure needs review.</p>"
    explain = "explanation" in queue
    reason = "review_reason" in queue
    head = ("<tr><th>#</th><th>notice</th><th>measure</th><th>label</th><th>confidence</th>"
            + ("<th>why</th>" if reason else "") + "<th>runner-up</th>"
            + ("<th>nearest labelled measures (similarity · label · text)</th>" if explain else "") + "</tr>")
    rows = []
    for i, (_, r) in enumerate(queue.head(limit).iterrows(), 1):
        near = f"<td>{_nearest(r['explanation'])}</td>" if explain else ""
        rows.append(f"<tr><td class=\"n\">{i}</td><td>{_e(r['notice'])}</td><td>{_e(r['text'])}</td>"
                    f"<td>{_e(r['label'])}<br><small>{_e(scheme.name_zh(str(r['label'])))}</small></td>"
                    f"<td class=\"n\">{float(r['confidence']):.2f}</td>"
                    + (f"<td>{_e(str(r['review_reason'] or '').replace('_', ' '))}</td>" if reason else "")
                    + f"<td>{_e(r.get('secondary_label'))}</td>"
                    f"{near}</tr>")
    shown = f"<p class=\"meta\">the {limit} least confident of {len(queue)} shown</p>" if len(queue) > limit else ""
    return shown + f"<table>{head}{''.join(rows)}</table>"


def _number(value: object) -> str:
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:.3f}"
    return _e(value)


def _card_html(card: Mapping[str, Any] | None) -> str:
    if not card:
        return "<p>No model card: the report was built without a model registry.</p>"
    rows = []
    for key, value in card.items():
        if isinstance(value, Mapping):
            inner = "".join(f"<tr><td>{_e(k)}</td><td class=\"n\">{_number(v)}</td></tr>" for k, v in value.items())
            rows.append(f"<tr><th>{_e(key)}</th><td><table>{inner}</table></td></tr>")
        else:
            rows.append(f"<tr><th>{_e(key)}</th><td>{_e(value)}</td></tr>")
    return f"<table>{''.join(rows)}</table>"


def read_validation(path: str | Path, frame: pd.DataFrame) -> dict[str, Any]:
    """A ``classify validate --json`` result, checked to belong to these predictions (the sample's hash)."""
    from classify.errors import InputError
    from classify.validation import predictions_sha256

    path = Path(path)
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a validation result ({type(exc).__name__}); write one with "
                         "classify validate … --json") from None
    if not isinstance(result, dict) or not {"shares", "accuracy", "design"} <= set(result):
        raise InputError(f"{path}: not a validation result; write one with classify validate … --json")
    if "id" in frame and result["design"].get("predictions_sha256") not in (None, predictions_sha256(frame)):
        raise InputError(f"{path}: validates another predictions file than this one; validate these predictions")
    return result


def _interval(e: Mapping[str, float]) -> str:
    return f"{e['estimate']:.1%} <small>[{e['low']:.1%}, {e['high']:.1%}]</small>"


def _validation_html(validation: Mapping[str, Any] | None, numbers: Mapping[str, Any], scheme: LabelScheme) -> str:
    if not validation:
        return ("<p>No validation sample: the shares above count the model's labels (classify-and-count), whose "
                "errors pass into them. Draw one with <code>classify sample</code>, code it, then "
                "<code>classify validate … --json</code> and <code>--validation</code> here.</p>")
    total = max(numbers["measures"], 1)
    rows = []
    for lab in scheme.labels:
        if lab not in validation["shares"]:
            continue
        raw = numbers["labels"].get(lab, 0) / total
        rows.append(f'<tr><td><i class="swatch" style="background:{scheme.colour(lab)}"></i>{_e(lab)} '
                    f'{_e(scheme.name_zh(lab))}</td><td class="n">{raw:.1%}</td>'
                    f'<td class="n">{_interval(validation["shares"][lab])}</td></tr>')
    return (f'<p><b id="n-validated">{validation["n_validated"]}</b> of {validation["n_predictions"]} measures were '
            f"coded blind by people; accuracy of the model's labels on these predictions: "
            f'{_interval(validation["accuracy"])} ({int(round(validation.get("level", 0.95) * 100))}% intervals).</p>'
            "<table><tr><th>category</th><th>model's labels (raw count)</th><th>validated share [95% interval]</th>"
            f"</tr>{''.join(rows)}</table>")


def render_html(frame: pd.DataFrame, numbers: Mapping[str, Any], scheme: LabelScheme, *, source: str,
                model_card: Mapping[str, Any] | None = None, review_limit: int = REVIEW_SHOWN,
                validation: Mapping[str, Any] | None = None) -> str:
    labels = scheme.labels
    per_notice = numbers["per_notice"]
    biggest = dict(sorted(per_notice.items(), key=lambda kv: -sum(kv[1].values()))[:CHART_NOTICES])
    shown = {k: per_notice[k] for k in per_notice if k in biggest}  # file order, largest CHART_NOTICES
    chart_note = (f'<p class="meta">the {CHART_NOTICES} notices with most measures of {len(per_notice)}; '
                  "all are in the table</p>") if len(per_notice) > CHART_NOTICES else ""
    legend = "".join(f'<span><i class="swatch" style="background:{scheme.colour(lab)}"></i>{lab} '
                     f'{_e(scheme.name_zh(lab))}</span>' for lab in labels)
    years = (mix_chart(numbers["per_year"], "year", scheme) + _count_table(numbers["per_year"], "year", labels)
             if numbers["per_year"] else "<p>No measure has a date.</p>")
    if numbers["per_year"] and numbers["undated"]:
        years += f'<p class="meta">{numbers["undated"]} measure(s) without a date are not counted here.</p>'
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>classify report: {_e(source)}</title>
<style>{_CSS}</style></head><body>
<h1>Rectification measures by category</h1>
<p class="meta">{_e(source)} · built {stamp}</p>
<p><span class="stat"><b id="n-measures">{numbers['measures']}</b> measures</span>
<span class="stat"><b id="n-notices">{numbers['notices']}</b> notices</span>
<span class="stat"><b id="n-review">{numbers['review']}</b> need review</span></p>
<p class="legend">{legend}</p>
<h2>Validated shares</h2>{_validation_html(validation, numbers, scheme)}
<h2>Per notice</h2>{chart_note}{mix_chart(shown, "notice", scheme)}
<details{' open' if len(per_notice) <= CHART_NOTICES else ''}><summary>counts per notice</summary>
{_count_table(per_notice, "notice", labels)}</details>
<h2>Per issuer kind</h2>{mix_chart(numbers["per_kind"], "kind", scheme)}
{_count_table(numbers["per_kind"], "issuer kind", labels)}
<h2>Per year</h2>{years}
<h2>Confidence</h2>{confidence_chart(numbers, "confidence")}
<h2>Review queue</h2>{_review_table(frame, review_limit, scheme)}
<h2>Model</h2>{_card_html(model_card)}
</body></html>
"""


def build_report(predictions_path: str | Path, out_html: str | Path, *, model_card: dict | None = None,
                 validation_path: str | Path | None = None) -> dict[str, Any]:
    """Write the one-page report on ``predictions_path`` to ``out_html`` (atomically); return its numbers.

    ``validation_path``: a ``classify validate --json`` result for these predictions, shown beside the counts."""
    from classify.fileio import atomic_write_text

    frame, scheme = read_predictions(predictions_path)
    validation = read_validation(validation_path, frame) if validation_path else None
    numbers = report_numbers(frame, scheme.labels)
    atomic_write_text(out_html, render_html(frame, numbers, scheme, source=Path(predictions_path).name,
                                            model_card=model_card, validation=validation))
    return {**numbers, "out": str(out_html), "validated": validation["n_validated"] if validation else 0}
