"""Fixtures for the browser tests: `streamlit run app.py` on a free port, and Debian's Chromium.

The server starts as Streamlit's own end-to-end tests start it (headless, no file watcher, no usage
stats); its log is kept so that a test can assert that no traceback reached it.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("BPTT_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = ROOT / "artifacts"  # screenshots and logs of the browser tests (git-ignored)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppServer:
    def __init__(self, port: int, log_path: Path, env: dict[str, str], script: Path = ROOT / "app.py",
                 flags: dict[str, str] | None = None):  # fmt: skip
        self.port, self.log_path = port, log_path
        self.url = f"http://127.0.0.1:{port}"
        self._log = open(log_path, "w")  # noqa: SIM115 - kept open for the server's lifetime
        flags = {"server.headless": "true", "server.port": str(port), "server.address": "127.0.0.1",
                 "server.fileWatcherType": "none", "browser.gatherUsageStats": "false",
                 **(flags or {})}  # fmt: skip
        cmd = [sys.executable, "-m", "streamlit", "run", str(script)]
        cmd += [arg for k, v in flags.items() for arg in (f"--{k}", v)]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/_stcore/health", timeout=2) as r:
                    if r.read() == b"ok":
                        return
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"streamlit did not start; log:\n{self.log()}")

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._log.close()


def start_server(
    name: str, script: Path = ROOT / "app.py", flags: dict[str, str] | None = None, **extra_env: str
) -> AppServer:
    """`streamlit run <script>` (app.py unless named) on a free port, from the project's root; `flags`
    are more command-line options (`{"client.showErrorDetails": "false"}`)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))  # a script outside it
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": path, **extra_env}
    env.pop("BPTT_OFFLINE", None)
    env.setdefault("BPTT_DATA_URL", "http://127.0.0.1:9/")  # never the internet from a test: fall back fast
    return AppServer(free_port(), ARTIFACTS / f"{name}-server.log", env, script, flags)


def require_chromium() -> None:
    """Skip the browser tests where Chromium is missing, except in CI, where that is a failure."""
    if not (Path(CHROMIUM).exists() or shutil.which("chromium")):
        if os.environ.get("CI"):
            pytest.fail(f"Chromium is not at {CHROMIUM}: .ci/run should have installed it")
        pytest.skip(f"Chromium is not installed ({CHROMIUM}); apt-get install -y chromium to run this test")


@pytest.fixture(scope="module")
def app_server(request):
    require_chromium()
    server = start_server(request.module.__name__.rsplit(".", 1)[-1])
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


# -- helpers for the browser tests and benchmarks/measure_app.py -------------------------------------

MAIN = "[data-testid='stMain']"  # the app's own block: the app chrome has a Stop button of its own
SETTLED = "[data-testid='stApp'][data-test-script-state='notRunning']"
LOCAL = ("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:", "about:")
# Requests to anywhere else. A regex, not a Python callable: Playwright matches a regex in its driver,
# while a callable sends every request to Python, where the sync API answers only during a Playwright
# call: a test that sleeps in Python would stall the page's own requests (lazily loaded widget code).
REMOTE = re.compile(r"^(?!(https?|wss?)://127\.0\.0\.1[:/]|data:|blob:|about:)")


class PageWatch:
    """A page in its own browser context (its own Streamlit session) that collects what went wrong:
    uncaught exceptions and console errors. Requests to anywhere but 127.0.0.1 are aborted before they
    leave the browser (the page icon is a Material symbol that Streamlit fetches from Google's fonts)."""

    def __init__(self, browser, width: int = 1400, height: int = 1000, **options):
        """`options`: more of Playwright's context options (a phone's user_agent, is_mobile, ...)."""
        self.context = browser.new_context(viewport={"width": width, "height": height}, **options)
        self.context.route(REMOTE, lambda route: route.abort())
        self.page = self.context.new_page()
        self.raw: list[str] = []
        self.watch(self.page)

    def watch(self, page) -> None:
        page.on("pageerror", lambda e: self.raw.append(f"pageerror: {e}"))
        page.on("console", lambda m: self._console(m))

    def _console(self, m) -> None:
        if m.type != "error":
            return
        url = (m.location or {}).get("url", "")
        if not url.startswith(LOCAL):
            return  # a request this class aborted on purpose
        if "404" in m.text and url.rsplit("/_stcore/", 1)[-1] in ("health", "host-config"):
            return  # Streamlit probing /<page>/_stcore/... for a base path before it tries /_stcore/...
        self.raw.append(f"console: {m.text} ({url})")

    @property
    def errors(self) -> list[str]:
        return list(self.raw)

    def close(self) -> None:
        self.context.close()


def button(page, key: str):
    """A button of the app by its key. A button with help text is drawn twice, one copy hidden."""
    return page.locator(f"{MAIN} .st-key-{key} button:visible").first


def control(page, label: str, lane: str = "train"):
    """An option of a lane's run control (pages/ui/live.py) by its label: Start, Running, Resume, Pause,
    Stop. The control is one segmented control inside the container `<lane>_controls`."""
    exact = re.compile(rf"^\s*{re.escape(label)}\s*$")
    return page.locator(f"{MAIN} .st-key-{lane}_controls button").filter(has_text=exact).first


def chosen(page, lane: str = "train") -> str | None:
    """The label of the run control's chosen option; None when none is (no run, or after Stop)."""
    try:
        picked = page.locator(f"{MAIN} .st-key-{lane}_controls button[aria-checked='true']")
        return picked.first.inner_text(timeout=1000).strip() if picked.count() else None
    except Exception:  # redrawn while read
        return "?"


def wait_chosen(page, label: str | None, lane: str = "train", timeout: float = 60) -> None:
    """Poll until the run control shows `label` chosen (None: nothing chosen, Start offered)."""
    if label is None:
        poll(lambda: chosen(page, lane) is None and control(page, "Start", lane).count() > 0, timeout,
             what=f"{lane}: Start offered")  # fmt: skip
    else:
        poll(lambda: chosen(page, lane) == label, timeout, what=f"{lane}: {label} chosen")


def view_buttons(page):
    """The live panel's view choice (Loss & perplexity, Gradients, ...): a segmented control."""
    return page.locator(f"{MAIN} .st-key-ui_view button")


def open_view(page, name: str) -> None:
    view_buttons(page).filter(has_text=name).click()


def page_blank(page) -> bool:
    """True when the app has gone white: no title in the main area (the browser's state after a
    frontend exception such as "Bad delta path index")."""
    try:
        return not page.locator(f"{MAIN} h1").first.inner_text(timeout=5_000).strip()
    except Exception:
        return True


def pick_radio(page, key: str, option: str) -> None:
    page.locator(f".st-key-{key} label").filter(has_text=option).click()
    poll(lambda: checked_radio(page, key) == option, 20, what=f"{key} = {option}")


def checked_radio(page, key: str) -> str | None:
    js = """k => { const i = document.querySelector(`.st-key-${k} input[type=radio]:checked`);
                   return i ? i.closest('label').innerText.trim() : null; }"""
    return page.evaluate(js, key)


def slider_value(page, key: str) -> str | None:
    """A slider's value as the page shows it (Streamlit 1.67 sliders are react-aria range inputs)."""
    return page.evaluate("k => document.querySelector(`.st-key-${k} input[type=range]`)?.value ?? null", key)


def nudge_slider(page, key: str, *keys: str) -> None:
    """Focus a slider and press keys (ArrowLeft, ArrowRight, Home, End, PageUp, ...)."""
    handle = page.locator(f".st-key-{key} input[type=range]")
    handle.focus()
    for k in keys:
        handle.press(k)


def set_slider(page, key: str, value: float) -> None:
    """An integer slider to `value` with the keyboard, one arrow key at a time towards it: each press
    reruns the page, and a run that answers an older press can redraw the slider one step back, so the
    direction is read again after every press, until the slider stays at `value` once the page settles."""
    handle = page.locator(f".st-key-{key} input[type=range]")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        current = float(slider_value(page, key) or "nan")
        if current == value:
            page.wait_for_selector(SETTLED, timeout=30_000)
            page.wait_for_timeout(300)
            if float(slider_value(page, key) or "nan") == value:
                return
            continue
        handle.focus()
        handle.press("ArrowRight" if current < value else "ArrowLeft")
        page.wait_for_timeout(30)
    raise AssertionError(f"could not set {key} to {value}; it shows {slider_value(page, key)}")


def wait_settled(page, timeout: float = 60) -> None:
    """The script run is over and its widgets are drawn: their code loads lazily after the run, with a
    placeholder (stSkeleton) in the meantime."""
    page.wait_for_selector(SETTLED, timeout=timeout * 1000)
    button(page, "btn_reset").wait_for(timeout=timeout * 1000)
    page.wait_for_function("!document.querySelector(\"[data-testid='stSkeleton']\")", timeout=timeout * 1000)


def metric(page, label: str) -> str | None:
    loc = page.locator(f"{MAIN} [data-testid='stMetric']").filter(
        has=page.locator("[data-testid='stMetricLabel']", has_text=label)
    )
    try:
        return loc.first.locator("[data-testid='stMetricValue']").inner_text(timeout=2000)
    except Exception:  # not drawn (yet), or redrawn while read
        return None


def step_count(page) -> int | None:
    """The "Step" metric as a number; None while it is not on the page."""
    text = metric(page, "Step")
    try:
        return int(text.replace(",", "")) if text else None
    except ValueError:
        return None


def poll(condition, timeout: float, interval: float = 0.25, what: str = "condition"):
    """condition() until it returns something truthy (returned); AssertionError after timeout s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def wait_steps_above(page, floor: int, timeout: float = 60) -> int:
    """Poll the Step metric until it passes `floor`; its value."""
    return poll(
        lambda: (s := step_count(page)) is not None and s > floor and s, timeout, what=f"Step > {floor}"
    )


# A rerun keeps the element it replaces on the page a while (data-stale="true"): read the new one.
PLOT_JS = """k => document.querySelector(
    `[data-testid='stMain'] .st-key-${k}:not([data-stale='true']) .js-plotly-plot`)"""


def chart_points(page, key: str) -> int:
    """Points in the first trace of the plotly chart with this key (0 when it is not drawn)."""
    return page.evaluate(f"k => ({PLOT_JS})(k)?._fullData?.[0]?._length || 0", key)


def chart_drawn(page, key: str) -> int:
    """Points in the fullest trace of the plotly chart with this key: a chart whose first trace may be
    empty (the clipping chart draws its clipped-step markers first, beneath the lines) is drawn once
    any trace has points."""
    return page.evaluate(
        f"k => Math.max(0, ...(({PLOT_JS})(k)?._fullData || []).map(t => t._length || 0))", key
    )


def chart_x_end(page, key: str) -> float:
    """The right end of the x axis of the plotly chart with this key (0 when it is not drawn): it
    moves while a curve grows, also after the chart thinned the curve to a fixed number of points."""
    return page.evaluate(f"k => Number(({PLOT_JS})(k)?._fullLayout?.xaxis?.range?.[1] || 0)", key)


def chart_traces(page, key: str) -> list[str]:
    """The names of the traces of the plotly chart with this key."""
    return page.evaluate(f"k => (({PLOT_JS})(k)?._fullData || []).map(d => d.name || '')", key)


def app_tracebacks(log: str) -> int:
    """Tracebacks in a server log, less those of Streamlit's own web server about a browser that closed
    its websocket before the server accepted it (starlette's WebSocketDisconnected, seen when pages close
    under load): none of those passes through the app's code."""
    blocks = log.split("Traceback (most recent call last)")[1:]
    mine = ("app.py", "/pages/", "/bptt/")
    return sum(1 for b in blocks if "WebSocketDisconnected" not in b or any(m in b for m in mine))


def page_exceptions(page) -> list[str]:
    return page.locator("[data-testid='stException']").all_inner_texts()


def proc_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds (/proc/<pid>/stat: fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def descendants(pid: int) -> list[int]:
    """The processes below `pid` (children, grandchildren, ...), from /proc."""
    parent: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended while we looked
            continue
        parent[int(stat.parent.name)] = int(fields[1])
    found, frontier = [], [pid]
    while frontier:
        p = frontier.pop()
        kids = [c for c, pp in parent.items() if pp == p]
        found += kids
        frontier += kids
    return found


def cpu_seconds_of(pids) -> float:
    """utime + stime summed over the processes that still exist."""
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError):  # a process that ended in the meantime
            total += proc_cpu_seconds(pid)
    return total


def time_to_idle(pid: int, limit: float = 10.0, idle_share: float = 0.10, window: float = 1.0) -> float:
    """Seconds until a `window`-second sample shows the process under `idle_share` of a core (the end of
    that window); inf when it is not idle within `limit` seconds."""
    start = time.monotonic()
    while time.monotonic() - start < limit:
        c0, t0 = proc_cpu_seconds(pid), time.monotonic()
        time.sleep(window)
        if (proc_cpu_seconds(pid) - c0) / (time.monotonic() - t0) < idle_share:
            return time.monotonic() - start
    return float("inf")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """When a browser test fails, screenshot every page it left open (artifacts/failed-<test>-<n>.png) and
    add to the report what a screenshot cannot travel with (CI prints only the report): each page's URL
    and text, and the end of the server's log."""
    outcome = yield
    report = outcome.get_result()
    funcargs = getattr(item, "funcargs", {})
    browser = funcargs.get("browser")
    if report.when == "call" and report.failed and browser is not None:
        pages = [p for c in browser.contexts for p in c.pages]
        for n, page in enumerate(pages):
            with contextlib.suppress(Exception):  # a page that is closing: nothing to show
                page.screenshot(path=str(ARTIFACTS / f"failed-{item.name}-{n}.png"), timeout=10_000)
            with contextlib.suppress(Exception):
                text = page.locator("[data-testid='stApp']").inner_text(timeout=5_000)
                report.sections.append((f"page {n} at the failure: {page.url}", text[:4000]))
        server = funcargs.get("app_server")
        if server is not None:
            with contextlib.suppress(Exception):
                report.sections.append(("server log, last lines", server.log()[-4000:]))


# -- AppTest: the run controls and the training workers ----------------------------------------------


def control_key(at, prefix: str = "ui_run_") -> str:
    """The key of a lane's run control as drawn now (it moves to the next run's number after Stop)."""
    keys = [w.key for w in at.segmented_control if w.key and w.key.startswith(prefix)]
    assert len(keys) == 1, keys
    return keys[0]


def press(at, want: str, prefix: str = "ui_run_", timeout: float = 60):
    """Choose running / paused / stopped in a lane's run control, as a click does."""
    at.segmented_control(key=control_key(at, prefix)).set_value(want).run(timeout=timeout)
    assert not at.exception, at.exception
    return at


def wait_until(at, condition, timeout: float = 60, what: str = "condition", timeout_run: float = 60):
    """Rerun the page (AppTest fires no run_every: each .run() stands for one of the panel's timer runs,
    renewing the run's lease) until condition() is truthy, while the workers train in the background."""
    deadline = time.monotonic() + timeout
    while True:
        at.run(timeout=timeout_run)
        assert not at.exception, at.exception
        if value := condition():
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.2)
