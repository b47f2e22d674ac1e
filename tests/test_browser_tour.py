"""README's tour in a real browser (headless Chromium) against `streamlit run app.py`: the stops a student
of §8.7 makes in the book's order (the guided path's steps, Train, Compare, the Gradient lab, Theory), each
drawn and clean, each photographed into docs/screenshots/tour-<n>-<stop>.png, the files README's "A short
tour" shows (look at them). tests/test_readme_tour.py checks that README shows exactly these files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import MAIN, PLOT_JS, SETTLED, PageWatch, button, chart_points, control, poll, wait_chosen
from test_browser import assert_clean, progress_value
from test_browser_three import LINES, TRAIN, lines

pytestmark = pytest.mark.browser
TIMEOUT_MS = 30_000
SHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
# The tour's stops, in its order
PATH_STOPS = ("recursion", "regular", "randomized", "comparison", "powers")
STOPS = [*(f"path-{s}" for s in PATH_STOPS), "train", "lab", "compare", "theory"]


def shot(stop: str) -> str:
    """Where a stop's screenshot goes: numbered in README's order (Compare is taken before the lab, from
    Train's button)."""
    return str(SHOTS / f"tour-{STOPS.index(stop) + 1}-{stop}.png")


def settle(page) -> None:
    page.wait_for_selector(SETTLED, timeout=120_000)
    page.wait_for_function("!document.querySelector(\"[data-testid='stSkeleton']\")", timeout=60_000)


def drawn(page, key: str) -> int:
    return page.evaluate(f"k => ({PLOT_JS})(k)?.data?.length || 0", key)


def test_the_tour(app_server, browser):
    pw = PageWatch(browser, width=1400, height=1300)  # a path step's equation, figure and what to look for
    page = pw.page
    page.set_default_timeout(TIMEOUT_MS)
    for step in PATH_STOPS:
        page.goto(f"{app_server.url}/path?step={step}")
        poll(lambda step=step: drawn(page, f"chart_path_{step}") > 0, 60, what=f"the figure of {step}")
        settle(page)
        page.wait_for_timeout(500)  # KaTeX and Plotly finish their layout
        page.screenshot(path=shot(f"path-{step}"))

    page.set_viewport_size({"width": 1400, "height": 1450})  # Train's controls down to its loss curves
    page.goto(app_server.url + TRAIN)
    settle(page)
    control(page, "Start").click()
    wait_chosen(page, "Running", timeout=90)
    wait_chosen(page, None, timeout=180)  # the run finished: the control moves on to the next run
    poll(lambda: chart_points(page, "chart_loss") > 0, 30, what="the loss curve")
    page.wait_for_timeout(1500)
    settle(page)  # the run's last page run (its control moves on) has ended
    page.mouse.move(5, 5)  # off Start, which would show its hover shade
    page.screenshot(path=shot("train"))

    page.set_viewport_size({"width": 1400, "height": 1000})
    button(page, "btn_three").click()
    page.wait_for_url(re.compile(r"/compare"), timeout=60_000)
    poll(lambda: progress_value(page) == 100, 240, what="the three runs to end")
    poll(lambda: lines(page) == LINES, 30, what="three lines")
    settle(page)
    page.locator(f"{MAIN} .st-key-cmp_chart").first.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    page.screenshot(path=shot("compare"))

    page.goto(app_server.url + "/gradient_lab")
    poll(lambda: chart_points(page, "chart_lab_lag_share") > 0, 120, what="the lag share chart")
    settle(page)
    page.wait_for_timeout(500)
    page.screenshot(path=shot("lab"))

    page.goto(app_server.url + "/theory")
    settle(page)
    page.wait_for_timeout(1000)
    page.screenshot(path=shot("theory"))
    assert_clean(pw, app_server)
    pw.close()
