"""The rewording check's similarity cut-off (SupportModel.rewording_similarity) swept on rows the weights trained on.

    python bench/rewording_cutoff.py [--cutoffs 0.82 0.83 0.84] [--split train] [--sources halueval_qa ...]

The cut-off is chosen on HaluEval's *training* split (never on the holdout rows that docs/accuracy.md reports),
with the encoder the environment selects (RAGMETER_ENCODER_QUANTIZED). Prints the gate's balanced accuracy and
ROC AUC per source and cut-off; a fresh judge per cut-off, so no verdict is reused across them.
"""
from __future__ import annotations

import argparse
import asyncio
import dataclasses

from judge_accuracy import SOURCES
from ragmeter.metrics.judges.embedded.judge import EmbeddedJudge
from ragmeter.service.analysis.accuracy import reports
from ragmeter.service.analysis.accuracy.split import read_rows
from ragmeter.service.judge_setup import build_judge
from ragmeter.service.settings import Settings


async def sweep(cutoffs: list[float], split: str, names: list[str]) -> None:
    settings = Settings(judge="embedded")
    for name in names:
        path, _, _ = SOURCES[name]
        rows = read_rows(path, split)
        for cutoff in cutoffs:
            judge = build_judge(settings)
            assert isinstance(judge, EmbeddedJudge), "the sweep needs the embedded judge"
            judge.model = dataclasses.replace(judge.model, rewording_similarity=cutoff)
            try:
                report = await reports.hallucination_report(rows, judge, settings.hallucination_threshold)
            finally:
                await judge.aclose()
            print(f"{name} ({split}, {len(rows)} rows, {judge.info.embedding_model}) cut-off {cutoff:.3f}: "
                  f"gate balanced accuracy {report['balanced_accuracy']:.4f}, AUC {report['hallucination_auc']:.4f}",
                  flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cutoffs", nargs="+", type=float, default=[0.82, 0.83, 0.835, 0.84, 0.85])
    parser.add_argument("--split", default="train", choices=["train", "holdout", "all"])
    parser.add_argument("--sources", nargs="+", default=["halueval_qa"], choices=list(SOURCES))
    args = parser.parse_args()
    asyncio.run(sweep(args.cutoffs, args.split, args.sources))


if __name__ == "__main__":
    main()
