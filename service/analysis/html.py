"""HTML pieces the experiment pages share: small bars, a histogram of differences, the per-slice table.

Inline SVG and CSS only, so the pages need no script, no build step and no network.
"""
from __future__ import annotations

from html import escape

import numpy as np

from ragmeter.metrics import METRIC_NAMES

from ragmeter.service.rows import ScoredRow
from ragmeter.service.analysis.slices import MIN_SLICE_ROWS, Slices, sliceable_keys, summarise_slices

STYLE = """
.bar{display:inline-block;vertical-align:middle;margin-right:.3rem}
tr.too-small td{color:#888} .small-note{color:#a15c00;font-size:.8rem}
.better{color:#1b7f3b;font-weight:600} .worse{color:#b00020;font-weight:600} .same{color:#555}
.table-scroll{overflow-x:auto;max-width:100%}
table.slices td{white-space:nowrap} table.slices td:first-child{white-space:normal;min-width:8rem}
table.slices small{display:block}
"""


def bar(value: float | None, width: int = 60, height: int = 8, color: str = "#4a78c2") -> str:
    """A bar of `value` in [0, 1], as a tiny inline SVG."""
    if value is None:
        return ""
    filled = max(0.0, min(1.0, value)) * width
    return (f'<svg class="bar" width="{width}" height="{height}" aria-hidden="true">'
            f'<rect width="{width}" height="{height}" fill="#eee"/>'
            f'<rect width="{filled:.1f}" height="{height}" fill="{color}"/></svg>')


def difference_histogram(counts: list[int], width: int = 300, height: int = 130) -> str:
    """Counts of per-row differences in bins centred from -1 to +1: worse in red, better in green, unchanged grey."""
    bins = len(counts)
    half = 1.0 + 1.0 / (bins - 1)  # the outer bins are centred on -1 and +1
    edges = np.linspace(-half, half, bins + 1)
    # Most pairs often do not change at all: a square-root scale keeps the other bars visible.
    top = max(1.0, float(np.sqrt(max(counts, default=0))))
    step = width / bins
    plot = height - 22
    bars = []
    for i, c in enumerate(counts):
        h = np.sqrt(c) / top * plot
        color = "#b00020" if edges[i + 1] <= 0 else "#1b7f3b" if edges[i] >= 0 else "#888"
        bars.append(f'<rect x="{i * step + 1:.1f}" y="{plot - h + 2:.1f}" width="{step - 2:.1f}" height="{h:.1f}" '
                    f'fill="{color}"><title>{edges[i]:+.1f} to {edges[i + 1]:+.1f}: {c} rows</title></rect>')
    zero = width / 2
    return (f'<svg class="diff-hist" width="{width}" height="{height}" role="img" '
            f'aria-label="distribution of per-row differences">{"".join(bars)}'
            f'<line x1="{zero}" y1="0" x2="{zero}" y2="{plot + 2}" stroke="#222" stroke-dasharray="3,2"/>'
            f'<text x="0" y="{height - 4}">-1 worse</text><text x="{zero - 4}" y="{height - 4}">0</text>'
            f'<text x="{width - 48}" y="{height - 4}">better +1</text></svg>')


def slice_table(slices: Slices, metrics: list[str]) -> str:
    """One table: a row per slice, per metric its mean with a bar and 95% interval; small slices flagged."""
    head = "".join(f"<th>{escape(m)}</th>" for m in metrics)
    body = []
    for s in slices.slices:
        cells = []
        for metric in metrics:
            stats = s.metrics.get(metric)
            if stats is None or stats.mean is None or stats.ci95 is None:
                cells.append("<td>n/a</td>")
                continue
            cells.append(f"<td>{bar(stats.mean)}{stats.mean:.3f} <small>[{stats.ci95[0]:.2f}, {stats.ci95[1]:.2f}]"
                         f" n={stats.n}</small></td>")
        note = f' <span class="small-note">too few rows (&lt; {slices.min_rows}) to say anything</span>' \
            if s.too_small else ""
        rate = "n/a" if s.gate_pass_rate is None else f"{s.gate_pass_rate:.1%}"
        body.append(f'<tr class="slice{" too-small" if s.too_small else ""}" data-slice="{escape(s.label)}">'
                    f"<td>{escape(s.label)}{note}</td><td>{s.rows}</td><td>{rate}</td>{''.join(cells)}</tr>")
    left = f"<p>{slices.left_out} smaller slices left out.</p>" if slices.left_out else ""
    # A scrolling box of its own: with many metrics or long labels the table scrolls, not the page.
    return (f'<div class="table-scroll"><table class="slices" data-by="{escape(",".join(slices.by))}"><tr><th>'
            f"{escape(' × '.join(slices.by))}</th><th>rows</th><th>gate pass</th>{head}</tr>{''.join(body)}</table>"
            f"</div>{left}")


def report_section(rows: list[ScoredRow], by: list[str]) -> str:
    """The report's 'Slices' section: one table per requested key (or per few-valued metadata key)."""
    keys = [by] if by else [[k] for k in sliceable_keys(rows)]
    if not keys:
        return ""
    metrics = [m for m in METRIC_NAMES if any(r.score(m) is not None for r in rows)]
    tables = "".join(f"<h3>by {escape(' × '.join(k))}</h3>{slice_table(summarise_slices(rows, k), metrics)}"
                     for k in keys)
    return (f"<style>{STYLE}</style><h2>Slices</h2><p>Each metric's mean per slice of your metadata, with its 95% "
            f"bootstrap interval; slices with fewer than {MIN_SLICE_ROWS} scored rows are greyed: their interval is "
            f"too wide to say anything.</p>{tables}")


# The report reads every row to find the few-valued metadata keys only up to this size; past it, `?by=` asks.
AUTO_SLICE_ROWS = 20_000


def job_section(store, job_id: str, total: int, by: list[str]) -> str:
    """The report's slices of a stored batch: the keys asked for, or the few-valued ones of a batch this small."""
    if not by and total > AUTO_SLICE_ROWS:
        return (f"<h2>Slices</h2><p>Add <code>?by=KEY</code> to this page's address for a table per slice of your "
                f"metadata (not drawn by default past {AUTO_SLICE_ROWS:,} rows).</p>")
    return report_section(store.scored_rows(job_id), by)
