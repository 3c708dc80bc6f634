"""Choosing the cascade's uncertain band on labelled rows: gate accuracy against share of claims escalated.

    python bench/cascade_band.py [--limit N] [--end-to-end LOW HIGH]

Rows whose answer is one claim (HaluEval QA, QAGS CN/DM sentences), labelled hallucinated or not. An
oracle LLM judge answers every escalated claim with its row's label; the embedded judge decides the
rest. For each band the table prints the gate's balanced accuracy and the share of claims escalated,
beside the embedded judge alone and the oracle alone. The band is chosen on HaluEval QA's training
split and read off the held-out split and QAGS, which the band never saw.

The table is computed from the embedded judge's per-claim probabilities (one pass, many bands).
`--end-to-end` then runs the real cascade for one band through the service's scoring path against a
scripted OpenAI-compatible oracle server, and prints its figures and calls beside the table's.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

from ragmeter.metrics import GateConfig, Sample, evaluate
from ragmeter.metrics.judgements import Needs
from ragmeter.metrics.judges.cascade import Band, CascadeJudge
from ragmeter.metrics.judges.embedded.judge import EmbeddedJudge
from ragmeter.metrics.judges.llm import LLMJudge
from ragmeter.service.analysis.accuracy.reports import balanced_accuracy
from ragmeter.service.analysis.accuracy.split import read_rows
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]

DATA = ROOT.parent / "shared" / "data"
SOURCES = {
    "halueval_qa_train": (DATA / "halueval_qa_dev.jsonl", "train"),
    "halueval_qa_holdout": (DATA / "halueval_qa_dev.jsonl", "holdout"),
    "qags_sentences": (DATA / "qags_cnndm_sentences.jsonl", "all"),
}
BANDS = [(0.5, 0.65), (0.45, 0.7), (0.4, 0.75), (0.35, 0.8), (0.3, 0.85), (0.25, 0.9),
         (0.2, 0.95), (0.1, 0.98)]
NEED = Needs(claims=True)


def claim_probabilities(judge: EmbeddedJudge, rows: list[dict]) -> list[list[float]]:
    """The embedded judge's P(supported) of each claim of each row."""
    out = []
    for row in rows:
        sample = Sample(**row)
        parts = judge.decompose_sync(sample, NEED)
        # The embedded judge gives every verdict a probability.
        out.append([v.probability for v in judge.verify_sync(sample, parts, NEED).claims if v.probability is not None])
    return out


def gate_figures(probabilities: list[list[float]], labels: list[bool], band: Band | None, cutoff: float,
                 threshold: float) -> tuple[float, float]:
    """(gate balanced accuracy, share of claims escalated); band None means every claim goes to the oracle."""
    predicted, escalated, claims = [], 0, 0
    for probs, hallucinated in zip(probabilities, labels, strict=True):
        supported = 0
        for p in probs:
            if band is None or band.uncertain(p):
                escalated += 1
                supported += not hallucinated
            else:
                supported += p >= cutoff
        claims += len(probs)
        # An answer with no claims passes the gate (nothing to block).
        predicted.append(bool(probs) and 1 - supported / len(probs) > threshold)
    return balanced_accuracy(labels, predicted), escalated / max(1, claims)


def choose_band(probabilities: list[list[float]], labels: list[bool], cutoff: float, threshold: float,
                tolerance: float = 0.01) -> Band:
    """The band escalating the fewest claims whose accuracy is within `tolerance` of the oracle's (0.05 grid)."""
    target = gate_figures(probabilities, labels, None, cutoff, threshold)[0] - tolerance
    grid = [round(0.05 * i, 2) for i in range(21)]
    candidates = [Band(lo, hi) for lo in grid if lo <= cutoff for hi in grid if hi >= cutoff]
    scored = [(gate_figures(probabilities, labels, b, cutoff, threshold), b) for b in candidates]
    fits = [(share, -accuracy, b.high - b.low, b.low) for (accuracy, share), b in scored if accuracy >= target]
    best = min(fits, default=None)
    return Band(best[3], round(best[3] + best[2], 2)) if best else Band(0.0, 1.0)


async def end_to_end(rows: list[dict], embedded: EmbeddedJudge, band: Band, threshold: float) -> dict:
    """The real cascade on these rows against the oracle server: accuracy, escalation, calls."""
    from oracle_judge import OracleJudge  # bench/, the script's folder

    oracle = OracleJudge(rows).start()
    llm = LLMJudge.create(model="oracle", embedding_model="text-embedding-3-small", base_url=oracle.url, api_key="x")
    try:
        cascade = CascadeJudge(embedded, llm, band)
        start = time.perf_counter()
        results = await evaluate([Sample(**r) for r in rows], cascade, ["faithfulness"],
                                 GateConfig(threshold=threshold))
        wall = time.perf_counter() - start
    finally:
        await llm.client.close()
        oracle.stop()
    claims = sum(len(r.details.faithfulness.claims) for r in results)
    escalated = sum(r.usage.escalated_claims for r in results)
    return {"balanced_accuracy": balanced_accuracy([r["label_hallucinated"] for r in rows],
                                                   [not r.gate.passed for r in results]),
            "escalated_share": escalated / max(1, claims), "chat_calls": sum(r.usage.chat_calls for r in results),
            "judge_errors": sum(len(r.errors) for r in results),
            "oracle_requests": oracle.requests, "wall_s": round(wall, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=None, help="rows per source")
    parser.add_argument("--threshold", type=float, default=0.2, help="gate threshold (one-claim rows: any in (0, 1))")
    parser.add_argument("--end-to-end", nargs=2, type=float, metavar=("LOW", "HIGH"))
    parser.add_argument("--cache", type=Path, default=Path("/tmp/ragmeter_cascade_probs.json"),
                        help="where the embedded probabilities are kept between runs")
    args = parser.parse_args()
    console = Console()
    embedded = EmbeddedJudge()
    cached = json.loads(args.cache.read_text()) if args.cache.exists() else {}
    data = {}
    for name, (path, split) in SOURCES.items():
        rows = read_rows(path, split, args.limit)
        key = f"{name}:{len(rows)}:{embedded.info.model}"
        if key not in cached:
            start = time.perf_counter()
            cached[key] = claim_probabilities(embedded, rows)
            console.print(f"{name}: {len(rows)} rows through the embedded judge in {time.perf_counter() - start:.0f} s")
            args.cache.write_text(json.dumps(cached))
        data[name] = (rows, cached[key], [bool(r["label_hallucinated"]) for r in rows])

    cutoff = embedded.model.claim_cutoff
    table = Table(title=f"Cascade: gate balanced accuracy / share of claims escalated (oracle LLM judge; "
                        f"embedded claim cut-off {cutoff}, gate threshold {args.threshold})")
    table.add_column("band")
    for name, (rows, _, _) in data.items():
        table.add_column(f"{name} ({len(rows)})", justify="right")
    lines = [("embedded alone", Band(cutoff, cutoff))] + [(f"[{lo}, {hi})", Band(lo, hi)) for lo, hi in BANDS] \
        + [("oracle alone", None)]
    for label, band in lines:
        cells = []
        for _, probs, labels in data.values():
            accuracy, share = gate_figures(probs, labels, band, cutoff, args.threshold)
            cells.append(f"{accuracy:.3f} / {share:.0%}")
        table.add_row(label, *cells)
    console.print(table)
    _, probs, labels = data["halueval_qa_train"]
    chosen = choose_band(probs, labels, cutoff, args.threshold)
    console.print(f"chosen on halueval_qa_train (fewest escalations within 0.01 of the oracle): "
                  f"[{chosen.low}, {chosen.high})")
    for name, (_, probs, labels) in data.items():
        accuracy, share = gate_figures(probs, labels, chosen, cutoff, args.threshold)
        oracle = gate_figures(probs, labels, None, cutoff, args.threshold)[0]
        alone = gate_figures(probs, labels, Band(cutoff, cutoff), cutoff, args.threshold)[0]
        console.print(f"  {name}: balanced accuracy {accuracy:.3f} (oracle {oracle:.3f}, embedded alone {alone:.3f}), "
                      f"{share:.1%} of claims escalated")

    if args.end_to_end:
        band = Band(*args.end_to_end)
        for name, (rows, probs, labels) in data.items():
            figures = asyncio.run(end_to_end(rows, embedded, band, args.threshold))
            expected = gate_figures(probs, labels, band, cutoff, args.threshold)
            console.print(f"end to end {name} band [{band.low}, {band.high}): {figures}; "
                          f"table: balanced accuracy {expected[0]:.3f}, escalated {expected[1]:.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
