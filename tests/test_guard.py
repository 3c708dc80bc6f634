"""The streaming guard: /v1/guard judges each sentence of a streamed answer, and the client helper stops at the first
unsupported one. Real embedded judge, no key, no network."""
import asyncio
import gc
import importlib.util
import logging
import re
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from ragmeter.metrics.judges.cascade import Band, CascadeJudge
from ragmeter.metrics.judges.embedded.judge import EmbeddedJudge
from ragmeter.metrics.judges.embedded import text
from ragmeter.metrics.streaming import MAX_OPEN, SentenceBuffer, ends_sentence
from ragmeter.service.guard_client import GuardError, GuardStopped, aguard, guard, guard_url
from ragmeter.service.server.app import create_app
from ragmeter.service.settings import Settings
from starlette.websockets import WebSocketDisconnect

from .conftest import serving
from .helpers import StubJudge

QUESTION = "Where is the head office of the Oberoi Group, and when was it founded?"
CONTEXTS = ["The Oberoi Group is a hotel company with its head office in Delhi. It was founded in 1934 by Mohan Singh "
            "Oberoi. The group operates 31 luxury hotels and two river cruise ships in seven countries."]
FAITHFUL = ("The Oberoi Group has its head office in Delhi. It was founded in 1934 by Mohan Singh Oberoi. "
            "The group operates 31 luxury hotels.")
INVENTED = ("The Oberoi Group has its head office in Delhi. It was founded in 1934 and operates 85 hotels in "
            "40 countries. The group operates 31 luxury hotels.")


@pytest.fixture(scope="module")
def embedded():
    return EmbeddedJudge()


def tokens(answer: str) -> list[str]:
    """The answer as a model streams it: words with their leading space, punctuation apart ("3", ".", "5")."""
    return re.findall(r"\s*[\w']+|\s*[^\w\s]", answer)


def messages(ws) -> list[dict]:
    """Every message until the server closes the connection."""
    out = []
    while True:
        try:
            out.append(ws.receive_json())
        except WebSocketDisconnect:
            return out


def stream(ws, answer: str, start: dict | None = None) -> list[dict]:
    ws.send_json({"type": "start", "question": QUESTION, "contexts": CONTEXTS, **(start or {})})
    for token in tokens(answer):
        ws.send_json({"type": "delta", "text": token})
    ws.send_json({"type": "end"})
    return messages(ws)


@pytest.fixture
def client(embedded):
    with TestClient(create_app(Settings(), judge=embedded)) as c:
        yield c


# ---------------------------------------------------------------- the protocol
def test_a_faithful_answer_streams_through_with_every_sentence_supported_and_a_passing_gate(client):
    with client.websocket_connect("/v1/guard") as ws:
        got = stream(ws, FAITHFUL)
    sentences = [m for m in got if m["type"] == "sentence"]
    assert [s["text"] for s in sentences] == ["The Oberoi Group has its head office in Delhi.",
                                              "It was founded in 1934 by Mohan Singh Oberoi.",
                                              "The group operates 31 luxury hotels."]
    assert [s["verdict"] for s in sentences] == ["supported"] * 3
    assert all(FAITHFUL[s["start"]:s["end"]] == s["text"] for s in sentences)
    assert all(c["evidence"] and c["evidence"] in CONTEXTS[0] for s in sentences for c in s["claims"])
    assert not [m for m in got if m["type"] == "stop"]
    final = got[-1]
    assert final["type"] == "final" and final["gate"]["passed"] and final["scores"]["faithfulness"] == 1.0


def test_a_sentence_that_invents_a_number_fails_and_stops_the_stream(client):
    with client.websocket_connect("/v1/guard") as ws:
        got = stream(ws, INVENTED)
    kinds = [m["type"] for m in got]
    assert kinds == ["sentence", "sentence", "stop", "final"]  # nothing judged after the stop
    first, second, stop, final = got
    assert first["verdict"] == "supported"
    assert second["verdict"] in ("unsupported", "contradicted") and second["index"] == 1
    assert stop["index"] == 1 and stop["reason"].startswith(second["verdict"])
    assert not final["gate"]["passed"] and final["scores"]["faithfulness"] < 1.0


def test_the_guard_judges_alike_on_its_own_encoder_session_or_the_judges(embedded):
    # RAGMETER_GUARD_ENCODER_THREADS: its own session (two texts at a time by default), or 0 to share the judge's
    judged = {}
    for threads in (0, 1, 2):
        with TestClient(create_app(Settings(guard_encoder_threads=threads), judge=embedded)) as c:
            with c.websocket_connect("/v1/guard") as ws:
                got = stream(ws, INVENTED, {"stop_on": "never"})
            worker = c.app.state.guard_workers[0]
        assert (worker.judge is embedded) == (threads == 0)
        if threads:
            assert worker.judge.encoder.cores == threads
        judged[threads] = [(m["verdict"], [c["probability"] for c in m["claims"]]) for m in got[:3]]
    assert [v for v, _ in judged[0]] == ["supported", "unsupported", "supported"]
    for threads in (1, 2):
        assert [v for v, _ in judged[threads]] == [v for v, _ in judged[0]]
        assert [p for _, ps in judged[threads] for p in ps] == pytest.approx([p for _, ps in judged[0] for p in ps],
                                                                              abs=1e-4)


def test_streams_open_at_once_are_judged_by_different_workers(embedded):
    # RAGMETER_GUARD_WORKERS: a new stream goes to the worker with the fewest, and gives its place back at the end
    first_sentence = tokens("The Oberoi Group has its head office in Delhi. ")
    with (TestClient(create_app(Settings(guard_workers=2), judge=embedded)) as c,
          c.websocket_connect("/v1/guard") as one, c.websocket_connect("/v1/guard") as two):
        for ws in (one, two):
            ws.send_json({"type": "start", "question": QUESTION, "contexts": CONTEXTS})
            for token in first_sentence:
                ws.send_json({"type": "delta", "text": token})
            assert ws.receive_json()["verdict"] == "supported"  # both sessions are under way
        workers = c.app.state.guard_workers
        assert [w.streams for w in workers] == [1, 1]
        for ws in (one, two):
            ws.send_json({"type": "end"})
            assert messages(ws)[-1]["type"] == "final"
    assert [w.streams for w in workers] == [0, 0]


def test_stop_on_never_judges_every_sentence_and_the_callers_gate_decides(client):
    with client.websocket_connect("/v1/guard") as ws:
        got = stream(ws, INVENTED, {"stop_on": "never", "gate": {"threshold": 0.2}})
    assert [m["type"] for m in got] == ["sentence"] * 3 + ["final"]
    gate = got[-1]["gate"]
    assert gate["threshold"] == 0.2 and gate["hallucination_score"] == pytest.approx(1 / 3, abs=1e-4)
    assert not gate["passed"]


# ---------------------------------------------------------------- sentence boundaries
def sentences_of(deltas: list[str]) -> list[tuple[str, int]]:
    """Each sentence with the number of deltas fed when it came out (len(deltas) + 1: at the end)."""
    buffer, out = SentenceBuffer(), []
    for n, delta in enumerate(deltas, 1):
        out += [(s.text, n) for s in buffer.feed(delta)]
    return out + [(s.text, len(deltas) + 1) for s in buffer.finish()]


def test_a_sentence_comes_out_at_its_last_token_but_not_at_a_decimal_point_or_an_abbreviation():
    deltas = tokens("The ratio is 3.5 today. Dr. Smith agrees, e.g. in his report. Next")
    got = sentences_of(deltas)
    assert [t for t, _ in got] == ["The ratio is 3.5 today.", "Dr. Smith agrees, e.g. in his report.", "Next"]
    # each complete sentence is handed out with its own final period, not with the next word
    assert got[0][1] == deltas.index(" today") + 2
    assert got[1][1] == deltas.index(" report") + 2


def test_sentences_split_across_many_deltas_and_several_in_one_delta():
    assert sentences_of(list("It is big. It is red.")) == [("It is big.", 10), ("It is red.", 21)]
    assert sentences_of(["One fact. Two facts here! Three", " ends."]) == [
        ("One fact.", 1), ("Two facts here!", 1), ("Three ends.", 2)]



@pytest.mark.parametrize("answer", [FAITHFUL, INVENTED, "He moved to the U.S. He left in 2001. It cost $3.5 million.",
                                    "Mr. J. R. Smith, i.e. the founder, sold it for 4.2 bn. Why? Nobody knows!",
                                    "Steps:\n1. Boil water.\n2. Add 2.5 g of tea. Wait 3 min.",
                                    # quotations, brackets and ellipses: the whole-answer split keeps them whole
                                    'Mark Ronson\'s "Uptown Funk!" featuring Bruno Mars broke the record. It lasted.',
                                    "About 3% of the 1940 population (est. 2.3 billion) died. So the answer is 821.",
                                    '"You\'re a star with a trust fund. Stop the hood stuff!" he said. Then he left.',
                                    "The show gives away a car ... accidentally. A model makes a mistake.",
                                    "He condemned the attack on the South Korea-U.S. alliance. Police said so.",
                                    'She called him "moronic and despicable." Critics agreed.'])
def test_streamed_sentences_are_the_judges_own_split_of_the_whole_answer(answer):
    from ragmeter.metrics.judges.embedded import text

    assert [t for t, _ in sentences_of(tokens(answer))] == text.sentences(answer)


def test_a_stray_quotation_mark_holds_its_sentence_for_a_few_words_not_to_the_end_of_the_answer():
    # a quotation that never closes (a truncated title) would otherwise keep every later sentence waiting
    answer = ('"These Boots Are Made for Walkin\' is a song recorded by Nancy Sinatra. Lee Hazlewood wrote it in '
              "1965 and produced many of her records in the decade that followed. So the answer is Lee Hazlewood.")
    deltas = tokens(answer)
    got = sentences_of(deltas)
    assert [t for t, _ in got] == text.sentences(answer)
    first_end = len(answer.split(". ")[0]) + 1
    released_after = len("".join(deltas[:got[0][1]])) - first_end
    assert 0 < released_after <= MAX_OPEN + 12  # it waited for a closing mark, a word or so past the limit
    assert got[1][1] < len(deltas)  # and the sentences after it are not held to the end either


def test_which_endings_wait_for_more_text():
    assert ends_sentence("It is done.") and ends_sentence("Really?") and ends_sentence('He said "stop."')
    for pending in ("It costs 3.", "I met Dr.", "Tools, e.g.", "Signed J.", "In the U.S.", "No end",
                    'He hosted "You Bet!', 'He hosted "You Bet!"', "(est.", "South Korea-U."):
        assert not ends_sentence(pending), pending


# ---------------------------------------------------------------- bad input
def refused(client, send: list, path: str = "/v1/guard") -> tuple[dict, int]:
    with client.websocket_connect(path) as ws:
        for message in send:
            ws.send_text(message) if isinstance(message, str) else ws.send_json(message)
        error = ws.receive_json()
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    return error, closed.value.code


START = {"type": "start", "question": QUESTION, "contexts": CONTEXTS}


@pytest.mark.parametrize(("send", "field", "code"), [
    ([{"type": "delta", "text": "x"}], "type", 1007),
    ([START, {"type": "finish"}], "type", 1007),
    (["{not json"], None, 1007),
    (["[" * 100_000 + "]" * 100_000], None, 1007),  # nested deeper than a parser recurses
    ([{"type": "start", "question": QUESTION, "contexts": []}], "contexts", 1007),
    ([START, {"type": "delta"}], "text", 1007),
    ([{**START, "stop_on": "sometimes"}], "stop_on", 1007),
    ([{**START, "contexts": ["x" * 60_000]}], "contexts.0", 1009),
])
def test_bad_messages_get_an_error_naming_the_field_and_a_close_code(client, send, field, code):
    error, closed = refused(client, send)
    assert error["type"] == "error" and error["field"] == field and error["message"]
    assert closed == code
    with client.websocket_connect("/v1/guard") as ws:  # and the server goes on serving
        assert stream(ws, FAITHFUL)[-1]["type"] == "final"


def test_an_answer_over_the_size_limit_is_refused(embedded):
    with TestClient(create_app(Settings(max_field_chars=100), judge=embedded)) as c:
        error, code = refused(c, [START, {"type": "delta", "text": "word " * 30}])
    assert (error["field"], code) == ("text", 1009)


def test_an_idle_session_is_closed(embedded):
    with TestClient(create_app(Settings(guard_idle_timeout_s=0.2), judge=embedded)) as c:
        error, code = refused(c, [START])
    assert code == 1008 and "RAGMETER_GUARD_IDLE_TIMEOUT_S" in error["message"]


def test_sessions_beyond_the_cap_are_told_to_retry(embedded):
    with TestClient(create_app(Settings(guard_max_sessions=1), judge=embedded)) as c, \
            c.websocket_connect("/v1/guard") as first:
        first.send_json(START)
        error, code = refused(c, [])
        assert code == 1013 and "RAGMETER_GUARD_MAX_SESSIONS" in error["message"]
        for token in tokens(FAITHFUL):
            first.send_json({"type": "delta", "text": token})
        first.send_json({"type": "end"})
        assert messages(first)[-1]["type"] == "final"


# ---------------------------------------------------------------- auth
def test_a_key_is_required_when_keys_are_configured(embedded):
    with TestClient(create_app(Settings(api_keys={"team": "secret-key"}), judge=embedded)) as c:
        error, code = refused(c, [])
        assert (error["field"], code) == ("api_key", 1008)
        error, code = refused(c, [], "/v1/guard?api_key=wrong")
        assert code == 1008
        with c.websocket_connect("/v1/guard", headers={"Authorization": "Bearer secret-key"}) as ws:
            assert stream(ws, FAITHFUL)[-1]["gate"]["passed"]
        with c.websocket_connect("/v1/guard?api_key=secret-key") as ws:  # browsers cannot set headers
            assert stream(ws, FAITHFUL)[-1]["type"] == "final"


# ---------------------------------------------------------------- other judges
def test_the_cascade_sends_uncertain_sentences_to_the_llm_and_says_it_waited(embedded):
    # The band covers everything below certainty, so each claim waits for the (stub) LLM, which supports a
    # claim only when a context holds it word for word.
    cascade = CascadeJudge(embedded, StubJudge(), Band(0.0, 1.0))
    with TestClient(create_app(Settings(), judge=cascade)) as c, c.websocket_connect("/v1/guard") as ws:
        got = stream(ws, "The Oberoi Group is a hotel company with its head office in Delhi. It is big.")
    sentences = [m for m in got if m["type"] == "sentence"]
    assert sentences[0]["verdict"] == "supported"
    assert all(s.get("waited_for") == "llm" for s in sentences)
    assert {c["judged_by"] for s in sentences for c in s["claims"]} == {"stub"}
    assert got[-1]["usage"]["escalated_claims"] == 2


# ---------------------------------------------------------------- the client helper
def openai_chunks(answer: str):
    """A fake OpenAI SDK stream: objects with choices[0].delta.content (and None deltas, as the SDK sends)."""
    from types import SimpleNamespace

    yield SimpleNamespace(choices=[SimpleNamespace(delta=SimpleNamespace(content=None))])
    for token in tokens(answer):
        yield SimpleNamespace(choices=[SimpleNamespace(delta=SimpleNamespace(content=token))])


class Closable:
    def __init__(self, items):
        self.items, self.closed = iter(items), False

    def __iter__(self):
        return self.items

    def close(self):
        self.closed = True


@pytest.fixture(scope="module")
def url(embedded):
    with serving(Settings(), judge=embedded) as base:
        yield base


def test_the_client_helper_shows_only_sentences_that_passed_and_stops_at_the_first_unsupported(url):
    upstream = Closable(openai_chunks(INVENTED))
    guarded = guard(upstream, QUESTION, CONTEXTS, url=url)
    shown = "".join(guarded)
    assert shown == "The Oberoi Group has its head office in Delhi."
    assert guarded.stopped is not None and guarded.stopped["index"] == 1
    assert upstream.closed  # the app's model stream is not read further
    assert not guarded.final["gate"]["passed"]


def test_the_client_helper_passes_a_faithful_answer_whole(url):
    guarded = guard(openai_chunks(FAITHFUL), QUESTION, CONTEXTS, url=url)
    assert "".join(guarded) == FAITHFUL
    assert guarded.stopped is None and guarded.final["gate"]["passed"]


def still_generating(answer: str):
    """A model still generating when the guard stops it: its text, then empty chunks until the helper closes it."""
    yield from openai_chunks(answer)
    while True:
        yield ""


def test_a_stream_stopped_early_leaves_no_error_in_the_servers_log(embedded, caplog):
    # The helper closes once the stop arrives, while the server waits for more text: no error to log.
    with caplog.at_level(logging.ERROR), serving(Settings(), judge=embedded) as base:
        for _ in range(3):
            guarded = guard(still_generating(INVENTED), QUESTION, CONTEXTS, url=base)
            assert "".join(guarded) and guarded.stopped is not None
    gc.collect()  # the server's loop has closed: a task whose exception nobody read is reported now
    assert not [r.getMessage() for r in caplog.records if "never retrieved" in r.getMessage()]


def test_the_client_helper_can_raise_at_the_stop(url):
    shown = []
    with pytest.raises(GuardStopped) as stopped:
        for text in guard(openai_chunks(INVENTED), QUESTION, CONTEXTS, url=url, raise_on_stop=True):
            shown.append(text)
    assert "".join(shown) == "The Oberoi Group has its head office in Delhi."
    assert stopped.value.sentence["verdict"] in ("unsupported", "contradicted")


def test_the_async_client_helper_stops_at_the_first_unsupported_sentence(url):
    async def chunks():
        for chunk in openai_chunks(INVENTED):
            yield chunk

    async def run():
        guarded = aguard(chunks(), QUESTION, CONTEXTS, url=url)
        return "".join([t async for t in guarded]), guarded

    shown, guarded = asyncio.run(run())
    assert shown == "The Oberoi Group has its head office in Delhi."
    assert guarded.stopped["index"] == 1


def guard_example():
    path = Path(__file__).resolve().parents[1] / "examples" / "guard_example.py"
    spec = importlib.util.spec_from_file_location("guard_example", path)
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    return example


def test_the_guard_example_stops_at_its_invented_sentence(url, monkeypatch, capsys):
    """docs/guard.md's example, run as documented against a service with the embedded judge."""
    example = guard_example()
    monkeypatch.setattr(sys, "argv", ["guard_example.py", "--url", url, "--delay", "0"])
    assert example.main() == 1
    assert capsys.readouterr().out.splitlines() == [
        "The Oberoi Group has its head office in Delhi. It was founded in 1934 by Mohan Singh Oberoi.",
        "[stopped at sentence 3, unsupported: 'Its first spa opened in Paris in 1962 with 240 rooms.']"]


def test_the_guard_example_says_why_it_could_not_use_the_guard(monkeypatch, capsys):
    example = guard_example()
    with serving(Settings(api_keys={"team": "secret-key"}), judge=StubJudge()) as base:
        monkeypatch.setattr(sys, "argv", ["guard_example.py", "--url", base, "--api-key", "typo", "--delay", "0"])
        assert example.main() == 2  # not 1, which says the guard stopped the answer
    assert "not known" in capsys.readouterr().err


def test_the_client_helper_reports_a_refusal():
    with serving(Settings(api_keys={"team": "secret-key"}), judge=StubJudge()) as base:
        with pytest.raises(GuardError, match="api_key"):
            list(guard(["Some text."], QUESTION, CONTEXTS, url=base))
        assert "".join(guard(["Some text."], QUESTION, ["Some text."], url=base, api_key="secret-key")) == "Some text."


def test_guard_url():
    assert guard_url("http://127.0.0.1:8000") == "ws://127.0.0.1:8000/v1/guard"
    assert guard_url("https://rag.example/base/") == "wss://rag.example/base/v1/guard"
    assert guard_url("ws://h:1/v1/guard?api_key=k") == "ws://h:1/v1/guard?api_key=k"
