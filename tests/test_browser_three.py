"""Train's "Compare the three strategies" in headless Chromium: one click on Train opens Compare, where full,
regular and randomized truncation train at Train's settings and seed and the live chart overlays three
lines; on a phone the button sits under the first chart (which keeps the first screen) and a tap does
the same. Screenshots: artifacts/three.png (the live comparison), artifacts/phone_three.png (the button
scrolled into view on a phone)."""

from __future__ import annotations

import re

import pytest
from conftest import ARTIFACTS, MAIN, PageWatch, button, chart_traces, poll, wait_settled
from test_browser import TIMEOUT_MS, assert_clean, progress_value
from test_browser_phone import IPHONE, PHONE, box

pytestmark = pytest.mark.browser

# Small enough that the three runs end within the test on a loaded machine (about 10 s of training),
# long enough that their curves part (final perplexity about 2.9, 2.8 and 3.0)
TRAIN = (
    "/train?corpus=bundled&max_tokens=3000&num_hiddens=64&optimizer=adam&lr=0.01&epochs=100&seed=3"
    "&truncation=regular&k=5"
)
LINES = ["full within each window (n=1)", "regular (k=5) (n=1)", "randomized (π=0.9) (n=1)"]


def lines(page) -> list[str]:
    """The chart's named lines (Plotly names the unnamed band edges "trace N")."""
    return [n for n in chart_traces(page, "cmp_chart") if n and not re.fullmatch(r"trace \d+", n)]


def open_three(page, server) -> None:
    page.goto(server.url + TRAIN)
    wait_settled(page)
    button(page, "btn_three").click()
    page.wait_for_url(re.compile(r"/compare"), timeout=60_000)
    page.get_by_role("heading", name="Compare truncation strategies").wait_for()


def test_three_strategies_from_train(app_server, browser):
    pw = PageWatch(browser, height=1400)
    page = pw.page
    page.set_default_timeout(TIMEOUT_MS)
    open_three(page, app_server)
    poll(lambda: (progress_value(page) or 0) > 0, 90, what="the comparison to start")
    sidebar = page.locator("[data-testid='stSidebar']")
    assert "each with seed 3" in sidebar.inner_text()
    poll(lambda: lines(page) == LINES, 180, what="three lines on the live chart")
    poll(lambda: progress_value(page) == 100, 180, what="the comparison to end")
    poll(lambda: lines(page) == LINES, 30, what="the finished chart")
    page.locator(f"{MAIN} .st-key-cmp_chart").first.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "three.png"))
    assert_clean(pw, app_server)
    pw.close()


def test_three_strategies_on_a_phone(app_server, browser):
    pw = PageWatch(browser, **PHONE, user_agent=IPHONE, is_mobile=True, has_touch=True)
    page = pw.page
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(app_server.url + TRAIN)
    wait_settled(page)
    assert box(page, f"{MAIN} .st-key-btn_three")["y"] > PHONE["height"]  # under the first chart
    button(page, "btn_three").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "phone_three.png"))
    button(page, "btn_three").tap()
    page.wait_for_url(re.compile(r"/compare"), timeout=60_000)
    poll(lambda: (progress_value(page) or 0) > 0, 90, what="the comparison to start")
    assert_clean(pw, app_server)
    pw.close()
