"""A first visit to Train, clicked from Home, on a fresh server: how long until Start can be clicked.

    python benchmarks/first_visit.py --reps 3

Each repetition measures both servers, alternating: "cold" (BPTT_WARM_UP=0: the first visit to Train
imports PyTorch, pandas and Plotly itself) and "warm" (app.py's background warm-up, pages/ui/warm.py,
imports them while the visitor reads Home). Each measurement starts a new `streamlit run app.py` (so
the server process has imported nothing yet) and a new browser context, opens Home, waits until it is
drawn, then clicks Train in the sidebar and times the click until Start is enabled and no widget
placeholder (stSkeleton) is left: "Train interactive". `--read S` waits S seconds on Home first, as a
visitor reading it does (the warm-up works during that time).
Printed: Home painted and Train interactive per repetition and mode, the 1-minute load average before
each (the machine may be shared), and the medians per mode.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from conftest import CHROMIUM, MAIN, SETTLED, PageWatch, button, start_server  # noqa: E402


def one(browser, rep: int, warm: bool, read: float) -> tuple[float, float]:
    server = start_server(f"first-visit-{rep}", BPTT_WARM_UP="1" if warm else "0")
    try:
        time.sleep(
            2.0
        )  # what a server does after start-up (app.py's warm-up included) before a visitor comes
        pw = PageWatch(browser)
        page = pw.page
        t0 = time.monotonic()
        page.goto(server.url)
        page.wait_for_selector(f"{MAIN} h1", timeout=60_000)
        page.wait_for_selector(SETTLED, timeout=60_000)
        home = time.monotonic() - t0
        time.sleep(read)  # the visitor reads Home before clicking Train
        t1 = time.monotonic()
        page.locator("[data-testid='stSidebarNav'] a").filter(has_text="Train").first.click()
        button(page, "btn_start").wait_for(timeout=60_000)
        page.wait_for_function(
            """() => { const b = document.querySelector("[data-testid='stMain'] .st-key-btn_start button");
                       return b && !b.disabled && !document.querySelector("[data-testid='stSkeleton']"); }""",
            timeout=60_000,
        )
        train = time.monotonic() - t1
        if pw.errors:
            print("errors:", pw.errors)
        pw.close()
        return home, train
    finally:
        server.stop()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--read", type=float, default=0.0, help="seconds spent reading Home before the click")
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    homes = {"cold": [], "warm": []}
    trains = {"cold": [], "warm": []}
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        for rep in range(args.reps):
            for mode in ("cold", "warm") if rep % 2 == 0 else ("warm", "cold"):
                load = os.getloadavg()[0]
                home, train = one(browser, rep, warm=mode == "warm", read=args.read)
                homes[mode].append(home)
                trains[mode].append(train)
                print(
                    f"rep {rep} {mode}: Home painted {home:.2f} s, Train interactive {train:.2f} s "
                    f"(load average {load:.2f})",
                    flush=True,
                )
        browser.close()
    for mode in ("cold", "warm"):
        home, train = statistics.median(homes[mode]), statistics.median(trains[mode])
        print(f"median {mode} ({args.reps} reps): Home painted {home:.2f} s, Train interactive {train:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
