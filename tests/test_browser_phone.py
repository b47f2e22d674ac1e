"""Train on a phone-sized screen (390 × 844 CSS px, an iPhone 12-14) in headless Chromium: Start and the
first chart within the first screen, the metrics two to a row, and Plotly's mode bar off the chart
titles. Screenshots: artifacts/phone_train_top.png (the first screen), phone_train_modebar.png (a chart
tapped: its mode bar shown)."""

from __future__ import annotations

import pytest
from conftest import ARTIFACTS, MAIN, PageWatch, control, wait_chosen, wait_settled, wait_steps_above
from test_browser import TIMEOUT_MS, assert_clean

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
# Safari on an iPhone: the page lays Train out for a phone when the User-Agent says "Mobile"
IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.0 Mobile/15E148 Safari/604.1")  # fmt: skip
TRAIN = "/train?corpus=bundled&max_tokens=5000&num_hiddens=64&epochs=2000"


def box(page, selector: str) -> dict:
    loc = page.locator(selector).first
    loc.wait_for(state="visible", timeout=TIMEOUT_MS)
    return loc.bounding_box()


def title_and_modebar(page, i: int) -> tuple[dict, dict]:
    """The i-th chart's title and mode bar boxes once both are drawn."""
    for _ in range(20):
        chart = page.locator(f"{MAIN} [data-testid='stPlotlyChart']").nth(i)
        chart.tap()  # a touch shows the mode bar
        t, m = chart.locator(".gtitle").first.bounding_box(), chart.locator(".modebar").first.bounding_box()
        if t is not None and m is not None:
            return t, m
        page.wait_for_timeout(250)
    raise AssertionError(f"chart {i}: no title or no mode bar")


def test_train_on_a_phone(app_server, browser):
    pw = PageWatch(browser, **PHONE, user_agent=IPHONE, is_mobile=True, has_touch=True)
    page = pw.page
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(app_server.url + TRAIN)
    wait_settled(page)
    control(page, "Start").click()
    wait_steps_above(page, 5, timeout=60)
    control(page, "Pause").click()  # the panel stops redrawing: its boxes hold still to be measured
    wait_chosen(page, "Pause")
    page.wait_for_timeout(1500)
    page.screenshot(path=str(ARTIFACTS / "phone_train_top.png"))
    # Start and the first chart (the loss curve) wholly within the first screen
    start = box(page, f"{MAIN} .st-key-train_controls")
    first = box(page, f"{MAIN} [data-testid='stPlotlyChart']")
    print(f"\nStart {start}\nfirst chart {first}")
    assert start["y"] + start["height"] <= PHONE["height"]
    assert first["y"] >= 0 and first["y"] + first["height"] <= PHONE["height"], first
    assert "loss" in page.locator(f"{MAIN} [data-testid='stPlotlyChart'] .gtitle").first.text_content()
    # the metrics two to a row (five of them: rows of two, two and one)
    boxes = page.evaluate(  # all at one moment
        f"""() => [...document.querySelectorAll("{MAIN} [data-testid='stMetric']")].map(e => {{
            const r = e.getBoundingClientRect(); return {{x: r.x, y: r.y, width: r.width}}; }})"""
    )
    rows = sorted({round(b["y"]) for b in boxes})
    assert len(boxes) == 5 and len(rows) == 3, boxes
    assert [sum(round(b["y"]) == y for b in boxes) for y in rows] == [2, 2, 1]
    assert all(b["x"] + b["width"] <= PHONE["width"] for b in boxes)
    # Plotly's mode bar (shown on a touch screen) clear of every chart title
    for i in range(2):  # the loss and the perplexity chart
        t, m = title_and_modebar(page, i)
        apart = (
            t["x"] + t["width"] <= m["x"] or m["y"] + m["height"] <= t["y"] or t["y"] + t["height"] <= m["y"]
        )
        assert apart, (t, m)
    page.locator(f"{MAIN} [data-testid='stPlotlyChart']").first.tap()
    page.screenshot(path=str(ARTIFACTS / "phone_train_modebar.png"))
    assert_clean(pw, app_server)
    pw.close()
