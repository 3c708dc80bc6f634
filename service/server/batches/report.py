"""The HTML report of a batch: a histogram per metric, the gate pass rate, the worst rows.

Server-rendered with inline SVG, so it needs no script, no build step and no network.
"""
from __future__ import annotations

from collections.abc import Collection
from html import escape
from pathlib import Path
from urllib.parse import quote

import numpy as np

from ragmeter.metrics import METRIC_NAMES
from ragmeter.metrics.registry import BY_NAME

from ragmeter.service.file_names import safe_name
from ragmeter.service.server.batches.digest import Digest
from ragmeter.service.server.batches.store import Job

BINS = 10
# The web page links these; the report carries them inline, so that a saved report looks the same.
CLAIMS_CSS = (Path(__file__).resolve().parents[1] / "web" / "static" / "claims.css").read_text()
FAVICON = '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">'
LEGEND = ('<p class="legend">Claims the contexts do not back: <mark class="unsupported">unsupported</mark> '
          '(they do not say it) <mark class="contradicted">contradicted</mark> (they say the opposite)</p>')

STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem;color:#222}
h1{font-size:1.4rem} h2{font-size:1.1rem;margin-top:2rem}
.cards{display:flex;gap:1rem;flex-wrap:wrap} .card{border:1px solid #ddd;border-radius:6px;padding:.8rem 1rem}
.big{font-size:1.6rem;font-weight:600} table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #eee;padding:.4rem;text-align:left;vertical-align:top;font-size:.9rem}
.fail{color:#b00020;font-weight:600}
.pass{color:#1b7f3b;font-weight:600} svg text{font-size:10px;fill:#333}
"""


def histogram_svg(values: list[float], width: int = 300, height: int = 150) -> str:
    """Rows per tenth of [0, 1]: score ticks at 0, .25, .5, .75 and 1 below, row counts on the left."""
    counts, _ = np.histogram(values, bins=BINS, range=(0.0, 1.0))
    top = max(1, int(counts.max()))
    left, right, bottom, above = 34, 8, 30, 8  # room for the count labels, the last tick and the axis title
    plot_w, plot_h = width - left - right, height - bottom - above
    bar = plot_w / BINS
    base = above + plot_h

    def y(count: float) -> float:
        return base - count / top * plot_h

    bars = "".join(
        f'<rect x="{left + i * bar + 1:.1f}" y="{y(c):.1f}" width="{bar - 2:.1f}" height="{base - y(c):.1f}" '
        f'fill="#4a78c2"><title>{i / BINS:.1f}-{(i + 1) / BINS:.1f}: {c} rows</title></rect>'
        for i, c in enumerate(counts))
    x_ticks = "".join(
        f'<line x1="{left + t * plot_w:.1f}" y1="{base}" x2="{left + t * plot_w:.1f}" y2="{base + 4}" stroke="#555"/>'
        f'<text class="x-tick" x="{left + t * plot_w:.1f}" y="{base + 14}" text-anchor="middle">{label}</text>'
        for t, label in ((0, "0"), (0.25, ".25"), (0.5, ".5"), (0.75, ".75"), (1, "1")))
    y_ticks = "".join(
        f'<line x1="{left - 4}" y1="{y(n):.1f}" x2="{left}" y2="{y(n):.1f}" stroke="#555"/>'
        f'<text class="y-tick" x="{left - 6}" y="{y(n) + 3:.1f}" text-anchor="end">{n}</text>'
        for n in sorted({0, (top + 1) // 2, top}))
    return (f'<svg width="{width}" height="{height}" role="img" aria-label="histogram of scores: rows per tenth">'
            f'{bars}<line x1="{left}" y1="{above}" x2="{left}" y2="{base}" stroke="#555"/>'
            f'<line x1="{left}" y1="{base}" x2="{left + plot_w}" y2="{base}" stroke="#555"/>{x_ticks}{y_ticks}'
            f'<text x="{left + plot_w / 2:.1f}" y="{height - 2}" text-anchor="middle">score</text>'
            f'<text transform="translate(9 {above + plot_h / 2:.1f}) rotate(-90)" text-anchor="middle">rows</text>'
            f'</svg>')


def highlight(answer: str, unsupported: list[str], contradicted: Collection[str] = (),
              claims: list[dict] | None = None) -> str:
    """The answer with its claims that the contexts do not support marked, those they contradict marked apart;
    claims not found verbatim are listed after it. `claims` (verdicts with spans) marks each at its span."""
    if claims and any(c.get("span") for c in claims):
        return _at_spans(answer, claims)
    html = escape(answer)
    leftover = []
    for claim in unsupported:
        quoted = escape(claim)
        verdict = "contradicted" if claim in contradicted else "unsupported"
        if quoted and quoted in html:
            html = html.replace(quoted, f'<mark class="{verdict}">{quoted}</mark>', 1)
        else:
            leftover.append((claim, verdict))
    if leftover:
        html += "".join(f'<br><mark class="{verdict}">{escape(c)}</mark>' for c, verdict in leftover)
    return html


def _at_spans(answer: str, claims: list[dict]) -> str:
    """Each claim marked at its [start, end) offsets; one without a span (or overlapping another) after the answer."""
    def mark(text: str, verdict: str | None) -> str:
        return f'<mark class="{"contradicted" if verdict == "contradicted" else "unsupported"}">{escape(text)}</mark>'

    spanned = sorted((c for c in claims if _valid_span(c.get("span"), answer)), key=lambda c: c["span"][0])
    parts, leftover, cursor = [], [c for c in claims if c not in spanned], 0
    for claim in spanned:
        start, end = claim["span"]
        if start < cursor:
            leftover.append(claim)
            continue
        parts += [escape(answer[cursor:start]), mark(answer[start:end], claim.get("verdict"))]
        cursor = end
    parts.append(escape(answer[cursor:]))
    return "".join(parts) + "".join(f'<br>{mark(c.get("claim", ""), c.get("verdict"))}' for c in leftover)


def _marked_answer(row, digest: Digest) -> str:
    return highlight(row.response or "", row.unsupported_claims, digest.contradicted.get(row.row, ()),
                     digest.unbacked.get(row.row))


def _valid_span(span: object, answer: str) -> bool:
    return isinstance(span, list) and len(span) == 2 and all(isinstance(i, int) for i in span) \
        and 0 <= span[0] < span[1] <= len(answer)


def render(job: Job, digest: Digest, api_key: str | None = None, extra: str = "") -> str:
    """The report page of one batch; with `api_key`, its download links carry the key the page was opened with.

    `extra` is HTML placed after the score charts (the per-slice tables).
    """
    summary = digest.summary
    key = f"&amp;api_key={quote(api_key, safe='')}" if api_key else ""
    cards = [f'<div class="card"><div>rows</div><div class="big">{summary.rows}</div></div>',
             f'<div class="card"><div>gate pass rate</div><div class="big" id="pass-rate">'
             f'{_pct(summary.gate_pass_rate)}</div></div>',
             f'<div class="card"><div>errors</div><div class="big">{summary.errors}</div></div>']
    charts = []
    for metric in METRIC_NAMES:
        stats = summary.metrics[metric]
        if not stats.n or stats.ci95 is None:
            continue
        values = digest.scores[metric]
        lower = " (lower is better)" if BY_NAME[metric].better == "lower" else ""
        charts.append(f'<div class="card" data-metric="{metric}"><div><b>{metric}</b>{lower} mean {stats.mean:.3f} '
                      f'(95% CI {stats.ci95[0]:.3f}-{stats.ci95[1]:.3f}), median {stats.median:.3f}, '
                      f'p10 {stats.p10:.3f}</div>{histogram_svg(values)}</div>')
    worst_rows = "".join(
        f'<tr class="worst-row"><td>{escape(str(r.id if r.id is not None else r.row))}</td>'
        f'<td>{escape(r.user_input or "")}</td>'
        f'<td class="answer">{_marked_answer(r, digest)}</td>'
        f'<td>{_num(r.faithfulness)}</td><td class="{"pass" if r.gate_passed else "fail"}">'
        f'{"pass" if r.gate_passed else "FAIL"}</td></tr>' for r in digest.worst)
    errors = digest.errors
    error_rows = "".join(f'<tr><td>{r.row}</td><td>{escape(r.error or "")}</td></tr>' for r in errors)
    worst_head = "<tr><th>id</th><th>question</th><th>answer</th><th>faithfulness</th><th>gate</th></tr>"
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>ragmeter report: {escape(safe_name(job.filename))}</title>{FAVICON}<style>{STYLE}{CLAIMS_CSS}</style>
</head><body>
<h1>ragmeter report: {escape(safe_name(job.filename))}</h1>
<p>Batch <code>{job.id}</code>, status <b id="status">{job.status}</b>, created {job.created_at:%Y-%m-%d %H:%M} UTC.
<a href="/v1/batches/{job.id}/results?format=csv{key}">results (CSV)</a> ·
<a href="/v1/batches/{job.id}/results?format=jsonl{key}">JSONL</a> ·
<a href="/v1/batches/{job.id}/results?format=parquet{key}">Parquet</a> ·
<a href="/v1/batches/{job.id}/summary{key.replace('&amp;', '?', 1)}">summary (JSON)</a></p>
<div class="cards">{"".join(cards)}</div>
{_diagnosis(summary.diagnosis)}
<h2>Scores</h2><div class="cards">{"".join(charts) or "<p>No scores yet.</p>"}</div>
{extra}
<h2>Worst rows</h2><p>Gate failures first, then lowest faithfulness; marked text is a claim the contexts do not
support. <a href="/?batch={job.id}{key}#browser">Browse and filter every row</a>.</p>{LEGEND}
<table id="worst">{worst_head}{worst_rows}</table>
{f'<h2>Errors</h2><table><tr><th>row</th><th>error</th></tr>{error_rows}</table>' if errors else ""}
</body></html>"""


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _num(value: float | None) -> str:
    return "null" if value is None else f"{value:.3f}"


def _diagnosis(findings: list[str] | None) -> str:
    """What the means of RAGChecker's metrics say to fix; nothing when none was computed."""
    if findings is None:
        return ""
    items = "".join(f"<li>{escape(f)}</li>" for f in findings) or "<li>nothing stands out</li>"
    return f'<h2>Diagnosis</h2><ul id="diagnosis">{items}</ul>'
