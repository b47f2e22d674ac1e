"""A replay in a real browser (headless Chromium) against `streamlit run app.py`: a run trained briefly,
then the book's experiment under regular truncation (k = 10) replayed beside it on the loss curves.
Screenshot: artifacts/replay_overlay.png.
"""

from __future__ import annotations

import pytest
from conftest import ARTIFACTS, MAIN, PageWatch, app_tracebacks, button, chart_traces, page_exceptions, poll
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from test_browser import SMALL, open_page, train_briefly

from bptt.hosting.recordings import shipped

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif("book-regular-k10" not in shipped(), reason="the shipped recordings are missing"),
]


def test_a_replay_overlays_a_trained_run(app_server, browser):
    pw: PageWatch = open_page(browser, app_server, SMALL, height=1600)
    page = pw.page
    train_briefly(page, min_steps=100)
    page.get_by_text("Replay a recorded run (no training)").click()
    option = page.get_by_role("option").filter(has_text="regular (k=10)")

    def open_list() -> bool:  # the expander may still be opening under load: click until it lists
        page.locator(f"{MAIN} .st-key-ui_replay input").click()
        try:
            option.wait_for(timeout=5000)
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
            return False
        return True

    poll(open_list, 60, what="the list of recordings")
    option.click()
    shown = "e => e.textContent + ' ' + [...e.querySelectorAll('input')].map(i => i.value).join(' ')"
    box = page.locator(f"{MAIN} .st-key-ui_replay")
    poll(lambda: "regular (k=10)" in box.evaluate(shown), 20, what="regular (k=10) chosen")
    page.wait_for_timeout(1500)  # the choice reaches the server before the click
    button(page, "btn_replay").click()
    names = poll(lambda: len(t := chart_traces(page, "chart_loss")) >= 2 and t, 30, what="the replay's curve")
    assert names == ["#1 full within each window", "#2 replay · regular (k=10)"], names
    page.wait_for_timeout(3000)  # a few seconds of playing at 10×
    # no scrolling to the chart: the panel redraws it every second, and a redrawn element is a new one;
    # the 1,600 px viewport holds it under the controls
    page.screenshot(path=str(ARTIFACTS / "replay_overlay.png"))
    assert not pw.errors, pw.errors
    assert not page_exceptions(page), page_exceptions(page)
    assert app_tracebacks(app_server.log()) == 0, app_server.log()[-3000:]
    pw.close()
