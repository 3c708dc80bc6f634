"""The HTML page of a run comparison: a card per metric with the distribution of per-row differences,
the per-slice verdicts, and the rows that changed most each way with both runs' explanations."""
from __future__ import annotations

from html import escape

from ragmeter.service.analysis.comparison import Comparison, MetricChange
from ragmeter.service.analysis.explain import RowChange
from ragmeter.service.analysis.html import STYLE as PIECES_STYLE
from ragmeter.service.analysis.html import difference_histogram

STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;max-width:80rem;color:#222}
h1{font-size:1.4rem} h2{font-size:1.1rem;margin-top:2rem} h3{font-size:1rem}
.cards{display:flex;gap:1rem;flex-wrap:wrap} .card{border:1px solid #ddd;border-radius:6px;padding:.8rem 1rem}
table{border-collapse:collapse;width:100%} svg text{font-size:10px}
td,th{border-bottom:1px solid #eee;padding:.4rem;text-align:left;vertical-align:top;font-size:.85rem}
.changes li{margin:0} .answer{max-width:22rem}
"""


def _verdict(change: MetricChange) -> str:
    css = {"better": "better", "worse": "worse"}.get(change.verdict, "same")
    return f'<span class="verdict {css}">{escape(change.verdict)}</span>'


def _lower(change: MetricChange) -> str:
    return ' <span class="muted">(lower is better)</span>' if change.better == "lower" else ""


def _interval(change: MetricChange) -> str:
    return f"{change.difference:+.3f} [{change.ci95[0]:+.3f}, {change.ci95[1]:+.3f}]"


def _metric_card(change: MetricChange) -> str:
    return (f'<div class="card" data-metric="{change.metric}"><div><b>{change.metric}</b>{_lower(change)} '
            f'{_verdict(change)}</div>'
            f"<div>{change.baseline_mean:.3f} → {change.candidate_mean:.3f}: {_interval(change)} over "
            f"{change.pairs} pairs; {change.rows_worse} rows worse, {change.rows_better} better</div>"
            f"{difference_histogram(change.histogram)}</div>")


def _slices(comparison: Comparison) -> str:
    if not comparison.slices:
        return ""
    metrics = [c.metric for c in comparison.metrics]
    head = "".join(f"<th>{escape(m)}</th>" for m in metrics)
    body = []
    for s in comparison.slices:
        by_metric = {c.metric: c for c in s.metrics}
        cells = "".join(f"<td>{_verdict(c)} {_interval(c)}</td>" if (c := by_metric.get(m)) else "<td>n/a</td>"
                        for m in metrics)
        label = ", ".join(f"{k}={v}" for k, v in s.key.items())
        note = ' <span class="small-note">too few pairs to say anything</span>' if s.too_small else ""
        body.append(f'<tr class="slice{" too-small" if s.too_small else ""}" data-slice="{escape(label)}">'
                    f"<td>{escape(label)}{note}</td><td>{s.pairs}</td>{cells}</tr>")
    return (f"<h2>By {escape(' × '.join(comparison.by))}</h2><p>Mean difference per slice with its paired 95% "
            f'interval.</p><div class="table-scroll"><table class="slices"><tr><th>slice</th><th>pairs</th>{head}</tr>'
            f'{"".join(body)}</table></div>')


def _side(score: float | None, response: str | None, why: str) -> str:
    shown = "null" if score is None else f"{score:.3f}"
    return f"<td><b>{shown}</b><div class='answer'>{escape(response or '')}</div><small>{escape(why)}</small></td>"


def _rows(title: str, css: str, rows: list[RowChange]) -> str:
    if not rows:
        return ""
    body = "".join(
        f'<tr class="changed-row {css}"><td>{escape(r.id)}</td><td>{escape(r.question)}</td>'
        f"<td>{r.difference:+.3f}</td>{_side(r.baseline.score, r.baseline.response, r.baseline.why)}"
        f"{_side(r.candidate.score, r.candidate.response, r.candidate.why)}"
        f'<td><ul class="changes">{"".join(f"<li>{escape(c)}</li>" for c in r.changes)}</ul></td></tr>'
        for r in rows)
    return (f"<h3>{title}</h3><table><tr><th>id</th><th>question</th><th>change</th><th>baseline</th>"
            f"<th>candidate</th><th>what flipped</th></tr>{body}</table>")


def render(comparison: Comparison) -> str:
    """The comparison page, self-contained."""
    counts = comparison.rows
    top = "".join(f'<section data-top="{escape(metric)}"><h2>{escape(metric)}: rows that changed most</h2>'
                  f"{_rows('Worse', 'worse-row', sides['worse'])}{_rows('Better', 'better-row', sides['better'])}"
                  f"</section>" for metric, sides in comparison.top_changed.items()
                  if sides["worse"] or sides["better"])
    effect = f" and the change exceeds {comparison.min_effect}" if comparison.min_effect else ""
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>ragmeter comparison: {escape(comparison.baseline)} → {escape(comparison.candidate)}</title>
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml"><style>{STYLE}{PIECES_STYLE}</style></head><body>
<h1>ragmeter comparison: {escape(comparison.baseline)} → {escape(comparison.candidate)}</h1>
<p id="pairing">{counts["paired"]} rows paired; {counts["only_baseline"]} only in the baseline,
{counts["only_candidate"]} only in the candidate{f", {counts['duplicate_ids']} rows with repeated ids left out"
if counts["duplicate_ids"] else ""}.{"".join(f" {escape(n.message)}." for n in comparison.notes)}
A metric is better or worse when the paired bootstrap 95% interval of its mean difference (candidate - baseline)
excludes zero{effect}; otherwise no detectable change.</p>
<h2>Metrics</h2><div class="cards">{"".join(_metric_card(c) for c in comparison.metrics)
or "<p>No metric was scored in both runs.</p>"}</div>
{_slices(comparison)}
{top}
</body></html>"""
