"""The report page and the web page, rendered and driven in headless Chromium."""
from __future__ import annotations

import json
import shutil

import httpx
import pytest

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
