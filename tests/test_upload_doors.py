"""Every door data comes in by answers the same hostile JSON values with a 4xx naming the field, never a 500."""
from __future__ import annotations

import csv
import io
import json

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from ragmeter.service.server.app import create_app
from ragmeter.service.settings import Settings

from .helpers import StubJudge, as_file, upload, wait_done

# JSON text as a hostile user writes it: a lone surrogate, an integer Python will not convert, deep nesting.
HOSTILE = {
    "surrogate": '"a\\ud800."',
    "long_integer": "1" * 4_400,
    "deep_list": "[" * 50_000,
    "deep_object": '{"a":' * 5_000 + "1" + "}" * 5_000,
}
GOOD = {"question": "Q?", "contexts": ["C."], "answer": "A."}
SCORED_HEADER = "row,id,user_input,retrieved_contexts,response,metadata\r\n"


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(Settings(), judge=StubJudge()), raise_server_exceptions=False) as c:
        yield c


def still_serving(client) -> None:
    """The same client is answered normally after the refusal."""
    assert client.get("/healthz").status_code == 200
    assert upload(client, as_file([GOOD], "jsonl"), "ok.jsonl").status_code == 202


def refused_naming(response, status: int, field: str) -> None:
    assert response.status_code == status, response.text
    assert field in response.text, response.text


def jsonl_line(place: str, value: str) -> str:
    if place == "metadata":
        return '{"question": "Q?", "contexts": ["C."], "answer": "A.", "metadata": {"k": ' + value + "}}"
    return f'{{"question": "Q?", "contexts": ["C."], "answer": "A.", "{place}": ' + value + "}"


@pytest.mark.parametrize("kind", HOSTILE)
@pytest.mark.parametrize("place", ["x", "metadata"])
def test_jsonl_and_json_uploads(client, place, kind):
    line = jsonl_line(place, HOSTILE[kind])
    # Nesting stops the parser before it reaches a field: the problem names the line (JSONL) instead.
    says = "nested too deeply" if kind.startswith("deep") else place
    refused_naming(upload(client, (line + "\n").encode(), "s.jsonl"), 400, says)
    refused_naming(upload(client, f"[{line}]".encode(), "s.json"), 400, says)
    still_serving(client)


@pytest.mark.parametrize("value", HOSTILE.values(), ids=HOSTILE.keys())
@pytest.mark.parametrize(("column", "cell"), [("contexts", "[{}]"), ("metadata", '{{"k": {}}}')])
def test_csv_uploads(client, column, cell, value):
    body = io.StringIO()
    writer = csv.writer(body)
    writer.writerow(["question", "answer", "contexts", "metadata"])
    writer.writerow(["Q?", "A.", cell.format(value) if column == "contexts" else '["C."]',
                     cell.format(value) if column == "metadata" else ""])
    refused_naming(upload(client, body.getvalue().encode(), "s.csv"), 400, column)
    still_serving(client)


@pytest.mark.parametrize("value", HOSTILE.values(), ids=HOSTILE.keys())
def test_the_gate_form_field(client, value):
    response = upload(client, as_file([GOOD], "jsonl"), "s.jsonl", gate='{"threshold": ' + value + "}")
    refused_naming(response, 422, "gate")
    assert response.json()["detail"][0]["loc"] == ["body", "gate"]
    still_serving(client)


@pytest.mark.parametrize("value", HOSTILE.values(), ids=HOSTILE.keys())
@pytest.mark.parametrize(("column", "cell"), [("retrieved_contexts", "[{}]"), ("metadata", '{{"k": {}}}')])
def test_comparison_files(client, column, cell, value):
    def scored(cell_value: str | None) -> bytes:
        body = io.StringIO()
        writer = csv.writer(body)
        writer.writerow(["row", "id", "user_input", "retrieved_contexts", "response", "metadata"])
        contexts = cell_value if column == "retrieved_contexts" and cell_value else '["C."]'
        writer.writerow([1, "a", "Q?", contexts, "A.", cell_value if column == "metadata" and cell_value else "{}"])
        return body.getvalue().encode()

    response = client.post("/v1/comparisons", files={"baseline_file": ("b.csv", scored(None)),
                                                     "candidate_file": ("c.csv", scored(cell.format(value)))})
    refused_naming(response, 400, column)
    assert "c.csv" in response.text
    still_serving(client)


@settings(max_examples=25, deadline=None)
@given(before=st.text(max_size=5), surrogate=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
       after=st.text(max_size=5), place=st.sampled_from(["question", "answer", "x", "metadata"]))
def test_any_lone_surrogate_in_any_field_is_a_400(client, before, surrogate, after, place):
    # json.dumps escapes the surrogate as \udXXX, as a client's JSON encoder would.
    value = json.dumps(before + surrogate + after)
    line = jsonl_line(place, value) if place in ("x", "metadata") else json.dumps(
        {**GOOD, place: "placeholder"}).replace('"placeholder"', value)
    response = upload(client, (line + "\n").encode(), "s.jsonl")
    refused_naming(response, 400, "lone surrogate")
    assert response.json()["detail"]["problems"][0]["field"].startswith(place)


FORMULAS = ["\r=cmd|' /C calc'!A0", "\n@SUM(1)", " +1+1", "\t-2", "\x01=x", "\r\n=1+1", "\u00a0=HYPERLINK(\"x\")",
            "plain", "a=b", "-"]


def _formula_unprefixed(cell: str) -> bool:
    return cell.lstrip("".join(chr(c) for c in range(33)) + "\x7f\xa0").startswith(("=", "+", "-", "@"))


def test_csv_download_keeps_rows_whole_and_formulas_neutralised(client):
    body = io.StringIO()
    writer = csv.writer(body, quoting=csv.QUOTE_ALL)
    writer.writerow(["id", "question", "answer", "contexts", "topic"])
    ids = [f"r{i}" for i in range(len(FORMULAS))]
    for i, text in enumerate(FORMULAS):
        writer.writerow([ids[i], f"Q{i} {text}" if i % 2 else text, text if text.strip() else "A.",
                         json.dumps([f"C{i}.", text]), text])
    batch = upload(client, body.getvalue().encode(), "formulas.csv")
    assert batch.status_code == 202, batch.text
    assert wait_done(client, batch.json()["id"])["status"] == "done"
    download = client.get(f"/v1/batches/{batch.json()['id']}/results?format=csv").content.decode()

    records = list(csv.DictReader(io.StringIO(download, newline="")))
    frame = pd.read_csv(io.StringIO(download), dtype=str, keep_default_na=False)
    assert [r["id"] for r in records] == list(frame["id"]) == ids
    for cells in [list(r.values()) for r in records] + frame.to_numpy().tolist():
        assert not [c for c in cells if isinstance(c, str) and _formula_unprefixed(c)]
    # The text itself survives, behind its ' prefix.
    assert records[0]["user_input"] == "'" + FORMULAS[0] and frame["user_input"][0] == "'" + FORMULAS[0]
