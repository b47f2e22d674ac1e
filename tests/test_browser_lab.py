"""The Gradient lab in a real browser (headless Chromium) against `streamlit run app.py`: it opens on the
shipped trained weights; with randomized π = 0.5 alone, its bias–variance plane shows the exact variance
(bptt/lab/moments.py) and, once drawn through the training workers with a progress bar, the warning that the
sample has missed the rare long paths. Screenshot: docs/screenshots/lab-pi05.png (look at it)."""

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
    chart_points,
    checked_radio,
    page_exceptions,
    poll,
)

from bptt.corpora import load_corpus
from bptt.lab import lags, moments
from bptt.lab import reports as gradlab
from bptt.truncation import ConstantPi, Randomized

pytestmark = pytest.mark.browser

SCREENSHOTS = ARTIFACTS.parent / "docs" / "screenshots"


def settled(page) -> None:
    page.wait_for_selector(SETTLED, timeout=120_000)
    page.wait_for_function("!document.querySelector(\"[data-testid='stSkeleton']\")", timeout=60_000)


def plane_variance(page, name: str) -> list[float]:
    js = f"([k, n]) => (({PLOT_JS})(k)?._fullData || []).find(d => d.name === n)?.y || []"
    return list(page.evaluate(js, ["chart_lab_plane", name]))


def drop_tag(page, key: str, text: str) -> None:
    """Remove one chosen option of a multiselect (its tag's "Remove …" button)."""
    remove = page.locator(f".st-key-{key} button:visible[aria-label='Remove {text}']")
    remove.first.click()
    poll(lambda: remove.count() == 0, 20, what=f"{text} dropped from {key}")


def test_pi_half_on_the_shipped_trained_weights(app_server, browser):
    c = load_corpus("bundled", max_tokens=10_000)
    X, Y = gradlab.minibatch(c, 32, 35, 0)
    half = moments.Moments(lags.forward_window(gradlab.trained_model(), X, Y)).of(Randomized(ConstantPi(0.5)))

    pw = PageWatch(browser, width=1400, height=1100)
    page = pw.page
    page.set_default_timeout(30_000)
    page.goto(app_server.url + "/gradient_lab")
    poll(lambda: chart_points(page, "chart_lab_lag_share") > 0, 120, what="the lag share chart")
    settled(page)
    assert checked_radio(page, "lab_weights") == "trained: the book's experiment"
    about = page.locator(f"{MAIN} [data-testid='stAlert']").filter(has_text="Weights:").first.inner_text()
    assert "shipped with the lab" in about, about

    drop_tag(page, "lab_pis", "0.9")  # π = 0.5 alone
    for t0 in ("10.0", "50.0"):
        drop_tag(page, "lab_t0s", t0)
    page.locator(".st-key-btn_lab_apply button:visible").first.click()  # in the sidebar
    page.get_by_role("tab", name="Estimators over draws").click()
    poll(lambda: plane_variance(page, "randomized, constant π"), 120, what="the plane's π = 0.5 point")
    settled(page)
    shown = plane_variance(page, "randomized, constant π")
    assert len(shown) == 1 and abs(shown[0] / half.variance - 1) < 1e-9, (shown, half.variance)

    button(page, "btn_lab_draw").click()
    progress = page.locator(f"{MAIN} [data-testid='stProgress']")
    poll(lambda: progress.count() > 0 or page.locator(f"{MAIN} .st-key-chart_lab_cos").count() > 0, 60,
         what="the draws' progress bar or their result")  # fmt: skip
    alerts = page.locator(f"{MAIN} [data-testid='stAlert']")
    warning = alerts.filter(has_text="has not met the rare long paths")
    poll(lambda: warning.count() > 0, 180, what="the warning under the sampled variance")
    settled(page)
    text = warning.first.inner_text()
    assert "randomized (π=0.5): the 100 draws give" in text, text
    assert f"the exact value is {half.mse:.3g}" in text, text
    poll(lambda: chart_points(page, "chart_lab_cos") > 0, 30, what="the cos histogram")
    page.set_viewport_size({"width": 1400, "height": 2000})
    page.wait_for_timeout(1000)
    page.screenshot(path=str(SCREENSHOTS / "lab-pi05.png"))
    assert not pw.errors, pw.errors
    assert not page_exceptions(page), page_exceptions(page)
    assert app_tracebacks(app_server.log()) == 0, app_server.log()[-3000:]
    pw.close()
