"""The comparison page of two batches, rendered and read in headless Chromium (skips where it is absent)."""
from __future__ import annotations

from .helpers import finished_batch
from .test_comparison import BASELINE, CANDIDATE, run_rows
from .test_web import page, pytestmark  # noqa: F401 (the fixture and the skip)


def test_comparison_page_shows_which_metric_changed_in_which_slice_and_the_rows_behind_it(server, page, tmp_path):  # noqa: F811
    a = finished_batch(server, run_rows(BASELINE), "before.jsonl")
    b = finished_batch(server, run_rows(CANDIDATE), "after.jsonl")
    page.goto(f"{server}/v1/comparisons/report?baseline={a}&candidate={b}&by=topic")

    card = page.locator('[data-metric="faithfulness"]')
    assert card.locator(".verdict").inner_text() == "worse"
    assert card.locator("svg.diff-hist rect").count() == 21
    assert page.locator('tr[data-slice="topic=b"] .verdict').first.inner_text() == "worse"
    assert page.locator('tr[data-slice="topic=a"] .verdict').first.inner_text() == "no detectable change"
    first = page.locator('[data-top="faithfulness"] tr.worse-row').first
    assert "became unsupported: Fact 30 is false." in first.inner_text()
    assert "40 rows paired" in page.inner_text("#pairing")
    page.screenshot(path=str(tmp_path / "comparison.png"), full_page=True)


def test_web_page_opens_the_comparison_of_the_two_latest_batches(server, page):  # noqa: F811
    finished_batch(server, run_rows(BASELINE), "before.jsonl")
    finished_batch(server, run_rows(CANDIDATE), "after.jsonl")
    page.goto(server)
    page.locator("#baseline option").nth(1).wait_for(state="attached")
    page.fill("#by", "topic")
    page.click("#compare")
    page.wait_for_selector('[data-metric="faithfulness"]')
    assert "before.jsonl" in page.inner_text("h1") and "after.jsonl" in page.inner_text("h1")
    assert page.locator('tr[data-slice="topic=b"] .verdict').first.inner_text() == "worse"
