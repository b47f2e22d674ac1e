"""The guided path in a real browser (headless Chromium) against `streamlit run app.py`, in both
languages: a reader walks it with "Next step" from the first step to the last; each step's figure is
drawn by the front end, its title fits in its chart, its log axes are labelled as powers of ten, and a
screenshot of each step goes to artifacts/path-<lang>-<n>-<step>.png (the README's
docs/screenshots/path-*.png are copies of two of them). A slider moved in the browser redraws the
powers of W_hh."""

from __future__ import annotations

import pytest
from conftest import (
    ARTIFACTS,
    MAIN,
    PLOT_JS,
    SETTLED,
    PageWatch,
    app_tracebacks,
    button,
    nudge_slider,
    page_exceptions,
    poll,
)

from pages.ui.path import STEPS

pytestmark = pytest.mark.browser
TIMEOUT_MS = 30_000
SI = set("yzafpnµμmkMGTPE")  # SI prefixes Plotly's default exponent format writes after a number

# For each chart of the main block: does its title fit, and the texts of its log axes' ticks.
CHART_FACTS = """() => [...document.querySelectorAll("[data-testid='stMain'] .js-plotly-plot")].map(el => {
  const box = el.getBoundingClientRect();
  const title = el.querySelector('.gtitle');
  const t = title ? title.getBoundingClientRect() : null;
  const logTicks = [];
  for (const [name, ax] of Object.entries(el._fullLayout || {})) {
    if (/^[xy]axis/.test(name) && ax && ax.type === 'log') {
      const letter = name[0], suffix = name.slice(5);
      el.querySelectorAll(`.${letter}${suffix}tick text, .${letter}${suffix || ''}tick text`)
        .forEach(n => logTicks.push(n.textContent));
    }
  }
  return {fits: !t || (t.left >= box.left - 1 && t.right <= box.right + 1 && t.top >= box.top - 1),
          title: title ? title.textContent : '', logTicks, points: (el.data || []).length};
})"""


def settle(page) -> None:
    page.wait_for_selector(SETTLED, timeout=TIMEOUT_MS)
    page.wait_for_function("!document.querySelector(\"[data-testid='stSkeleton']\")", timeout=TIMEOUT_MS)


def href(page) -> str:
    """The address as the page has it now (page.url misses history.replaceState)."""
    return page.evaluate("location.href")


def chart_of(page, step: str):
    return page.evaluate(f"k => ({PLOT_JS})(k)?.data?.length || 0", f"chart_path_{step}")


def check_charts(page, step: str) -> None:
    facts = page.evaluate(CHART_FACTS)
    assert facts, step
    for f in facts:
        assert f["fits"], (step, f["title"])
        for tick in f["logTicks"]:
            assert not (set(tick) & SI), (step, f["title"], tick)  # 10⁻³, never 1m


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_walk_the_path_and_screenshot_each_step(app_server, browser, lang):
    pw = PageWatch(browser, width=1400, height=2000)  # tall: the app scrolls inside, not the document
    page = pw.page
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{app_server.url}/path?lang={lang}")
    settle(page)
    for n, step in enumerate(STEPS, start=1):
        poll(lambda step=step: chart_of(page, step) > 0, 30, what=f"the figure of {step}")
        assert f"step={step}" in href(page), href(page)
        check_charts(page, step)
        page.wait_for_timeout(300)  # KaTeX and Plotly finish their layout
        page.screenshot(path=str(ARTIFACTS / f"path-{lang}-{n}-{step}.png"))
        if n < len(STEPS):
            button(page, "btn_path_next").click()
            poll(lambda step=step: f"step={step}" not in href(page), 30, what="the next step")
            settle(page)
    assert not pw.errors, pw.errors
    assert not page_exceptions(page), page_exceptions(page)
    assert app_tracebacks(app_server.log()) == 0, app_server.log()[-3000:]
    pw.close()


def test_a_slider_redraws_the_powers(app_server, browser):
    pw = PageWatch(browser, width=1400, height=1100)
    page = pw.page
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{app_server.url}/path?step=powers")
    settle(page)
    poll(lambda: chart_of(page, "powers") > 0, 30, what="the powers figure")
    last = (
        "k => { const el = ("
        + PLOT_JS
        + ")(k); const d = el?._fullData?.[0]?.y; return d ? d[d.length - 1] : null; }"
    )
    before = page.evaluate(last, "chart_path_powers")
    assert before is not None and before > 1  # ‖(W_hhᵀ)^60‖₂ = 1.1^60
    nudge_slider(page, "ui_path_lambda1", *["ArrowLeft"] * 5)  # λ₁ from 1.10 down by 0.05
    poll(
        lambda: page.evaluate(last, "chart_path_powers") not in (None, before), 30, what="the chart to redraw"
    )
    assert page.locator(f"{MAIN} [data-testid='stMetricValue']").first.inner_text() != ""
    assert not pw.errors, pw.errors
    pw.close()
