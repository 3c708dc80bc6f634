"""`ragmeter accuracy`: agreement of the gate and the context metrics with labelled rows."""
from __future__ import annotations

import argparse
import asyncio
import json

from ragmeter.service.analysis.accuracy import reports
from ragmeter.service.analysis.accuracy.split import read_rows
from ragmeter.service.judge_setup import NO_JUDGE, build_judge
from ragmeter.service.settings import Settings
from ragmeter.service.cli.errors import error


def run(args: argparse.Namespace) -> int:
    try:
        rows = read_rows(args.file, args.split, args.limit)
    except (OSError, ValueError) as exc:
        return error(exc)
    if not rows:
        return error("no rows to score")
    settings = Settings()
    judge = build_judge(settings)
    if judge is None:
        return error(NO_JUDGE)

    async def measure() -> dict:
        try:
            if "label_hallucinated" in rows[0]:
                report = await reports.hallucination_report(rows, judge, settings.hallucination_threshold)
            elif "context_is_gold" in rows[0]:
                report = await reports.context_report(rows, judge)
            else:
                raise ValueError("rows carry neither label_hallucinated nor context_is_gold")
        finally:
            await judge.aclose()
        return {"file": args.file.name, "split": args.split, "judge": judge.info.model_dump(), **report}

    try:
        report = asyncio.run(measure())
    except ValueError as exc:
        return error(exc)
    print(json.dumps(report, indent=1))
    return 0
