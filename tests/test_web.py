"""The report page and the web page, rendered and driven in headless Chromium."""
from __future__ import annotations

import json
import shutil

import httpx
import pytest

from ragmeter.service.settings import Settings

from .conftest import serving
from .helpers import finished_batch

playwright = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed")


@pytest.fixture
def page():
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield browser.new_page()
        browser.close()


def test_report_shows_histograms_pass_rate_and_worst_rows_highlighted(server, page, tmp_path):
    batch_id = finished_batch(server)
    page.goto(f"{server}/v1/batches/{batch_id}/report")

    assert page.inner_text("#pass-rate") == "66.7%"
    assert page.locator("[data-metric] svg").count() >= 2  # faithfulness and context precision at least
    first = page.locator("tr.worst-row").first
    assert "FAIL" in first.inner_text()
    assert first.locator("mark.unsupported").inner_text() == "Fact 0 is false."
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)


def test_web_page_scores_a_pasted_sample_and_marks_the_unsupported_claim(server, page):
    page.goto(server)
    page.fill("#question", "Is fact 1 true?")
    page.fill("#contexts", "Fact 1 is true.\n\nSomething else.")
    page.fill("#answer", "Fact 1 is false.")
    page.click("#score")
    page.wait_for_selector("#gate")

    assert page.inner_text("#gate") == "FAIL"
    assert page.inner_text("[data-metric=faithfulness]") == "0.000"
    assert page.inner_text("#highlighted mark.unsupported") == "Fact 1 is false."


def test_web_page_lists_past_batches_with_report_links(server, page):
    batch_id = finished_batch(server)
    page.goto(server)
    link = page.locator("#batches a").first
    link.wait_for()
    assert link.get_attribute("href") == f"/v1/batches/{batch_id}/report"
    assert json.loads(httpx.get(f"{server}/v1/batches").text)[0]["filename"] == "set.jsonl"


@pytest.fixture
def contradicting_server():
    """The app in open mode with a judge that also calls claims contradicted, and a finished batch of 30 rows."""
    from .conftest import serving
    from .helpers import ContradictingJudge
    from .test_rows import records

    with serving(Settings(), judge=ContradictingJudge()) as url:
        yield url, finished_batch(url, records(30))


def test_row_browser_filters_rows_and_opens_one_with_its_claims_marked_by_verdict(contradicting_server, page,
                                                                                  tmp_path):
    server, batch_id = contradicting_server
    page.goto(server)
    page.wait_for_selector("#rows tr.row")
    assert page.input_value("#rows-batch") == batch_id
    assert page.inner_text("#rows-count") == "rows 1-25 of 30 matching"

    page.select_option("#rows-gate", "fail")
    page.select_option("#rows-metric", "faithfulness")
    page.select_option("#rows-op", "<")
    page.fill("#rows-value", "0.5")
    page.fill("#rows-meta", "topic=billing")
    page.click("#rows-apply")
    playwright.expect(page.locator("#rows-count")).to_have_text("rows 1-10 of 10 matching")
    assert page.locator("#rows tr.row").evaluate_all("rows => rows.map(r => Number(r.dataset.row))") == [
        1, 5, 7, 11, 13, 17, 19, 23, 25, 29]

    page.click("#rows tr.row[data-row='1']")  # r0: "Fact 0 is false." against "Fact 0 is true."
    page.wait_for_selector("#row-detail #row-title")
    assert page.inner_text("#row-question") == "Question 0?"
    assert page.locator("#row-contexts li").all_inner_texts() == ["Other text 0.", "Fact 0 is true."]
    contradicted = page.locator("#row-answer mark.contradicted")
    assert contradicted.inner_text() == "Fact 0 is false."
    claim = page.locator("#row-claims tr.claim").first
    assert claim.get_attribute("data-verdict") == "contradicted"
    assert "contradicted" in claim.locator(".verdict").inner_text()
    assert claim.locator("q.evidence").inner_text() == "Fact 0 is true."
    assert "context 2" in claim.inner_text()
    marked = _look(contradicted)
    page.screenshot(path=str(tmp_path / "row-contradicted.png"), full_page=True)

    page.click("#rows tr.row[data-row='5']")  # r4: "Fact 4 is blue.", which the contexts do not say
    page.wait_for_selector("#row-answer mark.unsupported")
    assert page.inner_text("#row-title").startswith("Row 5")
    unsupported = _look(page.locator("#row-answer mark.unsupported"))
    # Not by colour alone: the background, the underline's style and the icon after the claim all differ.
    assert marked["background"] != unsupported["background"]
    assert (marked["border"], unsupported["border"]) == ("solid", "dashed")
    assert marked["icon"] != unsupported["icon"] and "contradicted" in marked["icon"]
    assert page.locator("#row-detail .legend mark.contradicted").count() == 1


def _look(mark) -> dict:
    return mark.evaluate("""m => ({background: getComputedStyle(m).backgroundColor,
                                  border: getComputedStyle(m).borderBottomStyle,
                                  icon: getComputedStyle(m, '::after').content})""")


def test_row_browser_pages_through_rows_and_says_why_a_filter_is_refused(contradicting_server, page):
    server, batch_id = contradicting_server
    page.goto(f"{server}/?batch={batch_id}")
    page.wait_for_selector("#rows tr.row")
    assert page.is_disabled("#rows-prev")
    page.click("#rows-next")
    playwright.expect(page.locator("#rows-count")).to_have_text("rows 26-30 of 30 matching")
    assert page.locator("#rows tr.row").count() == 5 and page.is_disabled("#rows-next")
    page.click("#rows-prev")
    playwright.expect(page.locator("#rows-count")).to_have_text("rows 1-25 of 30 matching")

    page.fill("#rows-meta", "topic")
    page.click("#rows-apply")
    page.wait_for_selector("#rows-count .fail")
    assert page.inner_text("#rows-count") == "metadata: write a condition as KEY=VALUE, e.g. topic=billing"


def test_favicon_is_served_and_named_by_every_page(server, page):
    for path in ("/favicon.ico", "/static/favicon.svg"):
        response = httpx.get(f"{server}{path}")
        assert response.status_code == 200 and response.headers["content-type"].startswith("image/svg+xml")
        assert response.text.lstrip().startswith("<svg")
    batch_id = finished_batch(server)
    for path in ("/", f"/v1/batches/{batch_id}/report"):
        page.goto(f"{server}{path}")
        assert page.locator("link[rel=icon]").get_attribute("href") == "/static/favicon.svg"


def test_report_at_1400_px_keeps_slice_tables_inside_and_labels_histogram_axes(contradicting_server, page, tmp_path):
    server, _ = contradicting_server
    records = [{"id": f"s{i}", "question": f"Question {i}?", "contexts": [f"Fact {i} is true."],
                "answer": f"Fact {i} is true." if i % 4 else f"Fact {i} is false.", "reference": f"Fact {i} is true.",
                "topic": ("billing and invoices", "authentication and single sign-on")[i % 2],
                "language": ("english", "portuguese (brazil)")[i // 2 % 2]} for i in range(48)]
    metrics = "faithfulness,answer_relevancy,context_precision,context_recall,semantic_similarity"
    batch_id = finished_batch(server, records, "wide.jsonl", metrics=metrics)
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(f"{server}/v1/batches/{batch_id}/report?by=topic,language")
    assert page.locator("table.slices tr.slice").count() == 4
    page.screenshot(path=str(tmp_path / "report-1400.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 1400  # nothing runs off the right edge
    assert page.locator("tr.worst-row mark.contradicted").first.inner_text() == "Fact 0 is false."
    assert page.locator("tr.worst-row mark.unsupported").count() == 0

    chart = page.locator("[data-metric=faithfulness] svg")
    assert chart.locator("text.x-tick").all_text_contents() == ["0", ".25", ".5", ".75", "1"]
    counts = [int(t) for t in chart.locator("text.y-tick").all_text_contents()]
    assert counts[0] == 0 and counts[-1] == 36  # 36 of 48 rows are wholly faithful: the top bar's count


def test_web_page_marks_a_pasted_answers_contradicted_claim_apart(contradicting_server, page):
    server, _ = contradicting_server
    page.goto(server)
    page.fill("#question", "Is fact 1 true?")
    page.fill("#contexts", "Fact 1 is true.")
    page.fill("#answer", "Fact 1 is false.")
    page.click("#score")
    page.wait_for_selector("#highlighted mark")
    assert page.inner_text("#highlighted mark.contradicted") == "Fact 1 is false."
    assert page.locator("#result .legend").count() == 1


def test_web_page_marks_a_claim_at_its_span_across_citation_markers_without_parsing_the_answer(contradicting_server,
                                                                                               page):
    server, _ = contradicting_server
    page.goto(server)
    page.fill("#question", "Is fact 1 true?")
    page.fill("#contexts", "<i>Fact</i> 1 is true.")
    # The judge reads "<i>Fact</i> 1 is false." (markers stripped); the mark covers the answer as written.
    page.fill("#answer", "<i>Fact</i> 1 is false [1].")
    page.click("#score")
    mark = page.locator("#highlighted mark.contradicted")
    playwright.expect(mark).to_have_text("<i>Fact</i> 1 is false [1].")
    assert page.locator("#highlighted i").count() == 0


def test_alerts_section_creates_a_rule_shows_the_apis_refusals_and_deletes_it(page):
    expect, key = playwright.expect, "web-alerts-key"
    with serving(Settings(api_keys={"team": key}, alert_allow_private_webhooks=True)) as url:
        page.goto(f"{url}/?api_key={key}")  # every call of the page carries the key
        rules, status = page.locator("#alert-rules"), page.locator("#alert-status")
        expect(rules).to_contain_text("No alert rules yet")
        page.select_option("#alert-metric", "gate_pass_rate")
        page.fill("#alert-app", "chat")
        page.fill("#alert-where", "model:gpt-4o; lang=en")
        page.fill("#alert-window", "600")
        page.fill("#alert-threshold", "1.5")
        page.fill("#alert-min-count", "5")
        page.fill("#alert-webhook", "ftp://127.0.0.1/hook")
        page.fill("#alert-name", "<b>chat</b> gate")
        page.click("#alert-create")
        expect(status).to_contain_text("threshold: Input should be less than or equal to 1")
        page.fill("#alert-threshold", "0.8")
        page.click("#alert-create")
        expect(status).to_have_text("webhook_url: must be an http:// or https:// URL, not ftp")
        page.fill("#alert-webhook", "http://127.0.0.1:9/hook")
        page.click("#alert-create")
        expect(status).to_contain_text('Created "<b>chat</b> gate"')
        expect(rules.locator(".alert-name")).to_have_text(["<b>chat</b> gate"])  # the name is text, not markup
        expect(rules).to_contain_text("gate_pass_rate < 0.8 over 600 s, chat model=gpt-4o lang=en (at least 5)")
        headers = {"X-API-Key": key}
        [rule] = httpx.get(f"{url}/v1/alerts", headers=headers).json()
        assert (rule["metric"], rule["app"], rule["slice"], rule["window_s"], rule["threshold"], rule["min_count"],
                rule["webhook_url"]) == ("gate_pass_rate", "chat", {"model": "gpt-4o", "lang": "en"}, 600, 0.8, 5,
                                         "http://127.0.0.1:9/hook")
        assert len(page.locator("#alert-secret").inner_text()) >= 32  # shown once, for the webhook's receiver

        page.on("dialog", lambda dialog: dialog.accept())
        rules.locator("button.delete-alert").click()
        expect(rules).to_contain_text("No alert rules yet")
        assert httpx.get(f"{url}/v1/alerts", headers=headers).json() == []
