"""The precision/recall curve of a calibration: an HTML page with an inline SVG chart, or a PNG via matplotlib."""
from __future__ import annotations

from html import escape
from pathlib import Path

from ragmeter.service.analysis.calibration import Calibration

W, H, PAD = 360, 300, 40


def _xy(recall: float, precision: float) -> tuple[float, float]:
    return PAD + recall * (W - 2 * PAD), H - PAD - precision * (H - 2 * PAD)


def curve_svg(calibration: Calibration) -> str:
    """Precision (y) against recall (x) at each threshold; the chosen one marked."""
    points = sorted((p for p in calibration.curve if p.precision is not None), key=lambda p: (p.recall, -p.threshold))
    # `or 0.0` never applies: the points without a precision were left out.
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in (_xy(p.recall, p.precision or 0.0) for p in points))
    dots = "".join(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="#4a78c2"><title>threshold {p.threshold}: '
                   f'precision {p.precision:.3f}, recall {p.recall:.3f}</title></circle>'
                   for p in points for x, y in [_xy(p.recall, p.precision or 0.0)])
    chosen = calibration.point
    mark = ""
    if chosen.precision is not None:
        x, y = _xy(chosen.recall, chosen.precision)
        mark = (f'<circle id="chosen" cx="{x:.1f}" cy="{y:.1f}" r="6" fill="none" stroke="#b00020" stroke-width="2"/>'
                f'<text x="{x + 8:.1f}" y="{y - 8:.1f}">threshold {chosen.threshold}</text>')
    axes = (f'<line x1="{PAD}" y1="{H - PAD}" x2="{W - PAD}" y2="{H - PAD}" stroke="#222"/>'
            f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{H - PAD}" stroke="#222"/>'
            f'<text x="{W / 2 - 20}" y="{H - 8}">recall</text><text x="4" y="{PAD - 8}">precision</text>'
            f'<text x="{PAD - 4}" y="{H - PAD + 14}">0</text><text x="{W - PAD - 4}" y="{H - PAD + 14}">1</text>'
            f'<text x="{PAD - 14}" y="{PAD + 4}">1</text>')
    return (f'<svg id="pr-curve" width="{W}" height="{H}" role="img" aria-label="precision recall curve">{axes}'
            f'<polyline points="{line}" fill="none" stroke="#4a78c2"/>{dots}{mark}</svg>')


def render(calibration: Calibration, title: str) -> str:
    """A self-contained page: the curve, the chosen threshold's confusion matrix and intervals."""
    p = calibration.point
    precision = "n/a" if p.precision is None else f"{p.precision:.3f}"
    p_ci = "" if calibration.precision_ci95 is None else \
        f" (95% CI {calibration.precision_ci95[0]:.3f}-{calibration.precision_ci95[1]:.3f})"
    met = "meets" if calibration.met else "does NOT meet (closest shown)"
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem;color:#222}}
td,th{{border:1px solid #ddd;padding:.3rem .6rem}} table{{border-collapse:collapse}}
svg text{{font-size:10px}}</style></head><body>
<h1>{escape(title)}</h1>
<p>{calibration.rows} labelled rows ({calibration.hallucinated} hallucinated, {calibration.faithful} faithful).
Threshold <b id="threshold">{p.threshold}</b> {met} the target
{escape(calibration.target)}: precision {precision}{p_ci},
recall {p.recall:.3f} (95% CI {calibration.recall_ci95[0]:.3f}-{calibration.recall_ci95[1]:.3f}), balanced accuracy
{p.balanced_accuracy:.3f}. These figures are on the rows the threshold was chosen on: check them on other rows.</p>
{curve_svg(calibration)}
<h2>Confusion matrix at {p.threshold}</h2>
<table id="confusion"><tr><th></th><th>blocked (score &gt; {p.threshold})</th><th>passed</th></tr>
<tr><th>labelled hallucinated</th><td>{p.tp}</td><td>{p.fn}</td></tr>
<tr><th>labelled faithful</th><td>{p.fp}</td><td>{p.tn}</td></tr></table>
</body></html>"""


def write_png(calibration: Calibration, path: Path, title: str) -> None:
    """The curve as a PNG; raises ImportError when matplotlib is not installed."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    points = sorted((p for p in calibration.curve if p.precision is not None), key=lambda p: (p.recall, -p.threshold))
    figure, axes = plt.subplots(figsize=(5, 4))
    axes.plot([p.recall for p in points], [p.precision for p in points], marker="o", markersize=3)
    if calibration.point.precision is not None:
        axes.plot([calibration.point.recall], [calibration.point.precision], "o", color="#b00020", markersize=10,
                  fillstyle="none", label=f"threshold {calibration.point.threshold}")
        axes.legend()
    axes.set(xlabel="recall", ylabel="precision", xlim=(0, 1.02), ylim=(0, 1.02), title=title)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
