"""Full computation over the whole sequence in a real browser (headless Chromium) against `streamlit run
app.py`: picked in the truncation radio, trained with small settings, and the Speed view's backward time
and graph memory per step drawn while it trains. Screenshot: artifacts/train_stream_speed.png (the README's
docs/screenshots/train-stream.png is a copy of one).
"""

from __future__ import annotations

import pytest
from conftest import (
    ARTIFACTS,
    MAIN,
    PLOT_JS,
    chart_points,
    checked_radio,
    control,
    pick_radio,
    poll,
    wait_chosen,
    wait_steps_above,
)
from test_browser import assert_clean, open_page, open_tab

pytestmark = pytest.mark.browser

# 20,000 tokens at B = 16, T = 35: 35 windows an epoch, so each stream grows to 1,225 time steps and restarts.
SMALL = "/train?corpus=bundled&max_tokens=20000&num_hiddens=128&batch_size=16&num_steps=35&epochs=100"


def held_steps_max(page, key: str) -> int:
    """The most time steps held that the chart's hover data shows."""
    js = f"k => Math.max(0, ...((({PLOT_JS})(k)?._fullData?.[0]?.customdata) || []))"
    return int(page.evaluate(js, key))


def test_full_over_the_whole_sequence_shows_time_and_memory_per_step(app_server, browser):
    pw = open_page(browser, app_server, SMALL, height=1400)
    page = pw.page
    pick_radio(page, "cfg_truncation", "full over the whole sequence")
    poll(
        lambda: checked_radio(page, "cfg_truncation") == "full over the whole sequence", 30, what="the choice"
    )
    poll(lambda: page.locator(f"{MAIN}").get_by_text("The book's full computation").count() > 0, 30,
         what="the explanation")  # fmt: skip
    control(page, "Start").click()
    wait_chosen(page, "Running")
    wait_steps_above(page, 0, timeout=60)
    open_tab(page, "Speed", "chart_stream_time")
    poll(lambda: chart_points(page, "chart_stream_bytes") > 40, 120, what="40 steps on the memory chart")
    poll(
        lambda: held_steps_max(page, "chart_stream_bytes") == 1225, 120, what="a whole stream of 1,225 steps"
    )
    wait_steps_above(page, 35 + 15, timeout=60)  # a restart drawn, and the next stream growing
    poll(lambda: chart_points(page, "chart_stream_time") > 50, 30, what="the time chart past the restart")
    control(page, "Pause").click()  # a paused panel stops redrawing: no half-drawn chart in the screenshot
    wait_chosen(page, "Pause")
    page.set_viewport_size({"width": 1400, "height": 1500})  # the charts in view without scrolling
    both = lambda: min(chart_points(page, "chart_stream_time"), chart_points(page, "chart_stream_bytes"))  # noqa: E731
    poll(lambda: both() > 50, 30, what="both charts drawn after the pause")
    page.wait_for_timeout(1500)
    page.screenshot(path=str(ARTIFACTS / "train_stream_speed.png"))
    control(page, "Stop").click()
    wait_chosen(page, None)
    assert_clean(pw, app_server)
