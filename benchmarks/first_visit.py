"""A first visit to Train, clicked from Home, on a fresh server: how long until Start can be clicked.

    python benchmarks/first_visit.py --reps 3 [--read 5] [--old DIR]

Each repetition measures both servers, alternating: "cold" (BPTT_WARM_UP=0: the first visit to Train
imports PyTorch, pandas and Plotly itself) and "warm" (app.py's background warm-up, pages/ui/warm.py,
imports them while the visitor reads Home). Each measurement starts a new `streamlit run app.py` (so
the server process has imported nothing yet) and a new browser context, opens Home, waits until it is
drawn, then clicks Train in the sidebar and times the click until Start can be clicked ("Start
clickable": the run control is drawn and enabled), and on until no element placeholder (stSkeleton) is
left ("page complete": the browser has also loaded the code of every element the page draws, Plotly's
among them, which it does once per visit). `--read S` waits S seconds on Home first, as a
visitor reading it does (the warm-up works during that time). `--old DIR`: also an older version of the
app, checked out in DIR (e.g. `git archive <commit> | tar -x -C DIR`), warm, in the same rounds; its
Start was a button (key btn_start), today's is the run control's first option.
Printed: Home painted and Train interactive per repetition and mode, the 1-minute load average before
each (the machine may be shared), and the medians per mode; written to
benchmarks/results/first_visit.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from conftest import CHROMIUM, MAIN, SETTLED, PageWatch, start_server  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "first_visit.json"
# Start can be clicked: today's run control (pages/ui/live.py) offers it, enabled; an older version's
# Start button (--old) is enabled.
START_NOW = """() => {
    const g = document.querySelector("[data-testid='stMain'] .st-key-train_controls [role='radiogroup']");
    const b = g && [...g.querySelectorAll('button')].find(x => x.innerText.trim() === 'Start');
    return b && g.getAttribute('aria-disabled') !== 'true'; }"""
START_OLD = """() => { const b = document.querySelector("[data-testid='stMain'] .st-key-btn_start button");
    return b && !b.disabled; }"""
COMPLETE = """() => !document.querySelector("[data-testid='stSkeleton']")"""


def one(browser, rep: int, warm: bool, read: float, old: Path | None = None) -> tuple[float, float, float]:
    script = (old / "app.py") if old else Path(__file__).resolve().parents[1] / "app.py"
    server = start_server(f"first-visit-{rep}", script, BPTT_WARM_UP="1" if warm else "0")
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
        page.wait_for_function(START_OLD if old else START_NOW, timeout=60_000, polling=20)
        start = time.monotonic() - t1
        page.wait_for_function(COMPLETE, timeout=60_000, polling=20)
        complete = time.monotonic() - t1
        if pw.errors:
            print("errors:", pw.errors)
        pw.close()
        return home, start, complete
    finally:
        server.stop()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--read", type=float, default=0.0, help="seconds spent reading Home before the click")
    ap.add_argument("--old", type=Path, help="an older version's checkout, measured warm beside")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    modes = ("cold", "warm", "old warm") if args.old else ("cold", "warm")
    homes = {m: [] for m in modes}
    starts = {m: [] for m in modes}
    completes = {m: [] for m in modes}
    loads = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        for rep in range(args.reps):
            for mode in modes if rep % 2 == 0 else modes[::-1]:
                load = os.getloadavg()[0]
                loads.append(load)
                old = args.old if mode == "old warm" else None
                home, start, complete = one(browser, rep, warm=mode != "cold", read=args.read, old=old)
                homes[mode].append(home)
                starts[mode].append(start)
                completes[mode].append(complete)
                print(
                    f"rep {rep} {mode}: Home painted {home:.2f} s, Start clickable {start:.2f} s, "
                    f"page complete {complete:.2f} s (load average {load:.2f})",
                    flush=True,
                )
        browser.close()
    medians = {}
    for mode in modes:
        home, start, complete = (statistics.median(x[mode]) for x in (homes, starts, completes))
        medians[mode] = {"home_painted_s": home, "start_clickable_s": start, "page_complete_s": complete}
        print(f"median {mode} ({args.reps} reps): Home painted {home:.2f} s, Start clickable {start:.2f} s, "
              f"page complete {complete:.2f} s")  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "reps": args.reps, "read_s": args.read, "old": str(args.old) if args.old else None,
        "home_painted_s": homes, "start_clickable_s": starts, "page_complete_s": completes,
        "medians": medians,
        "load_averages": loads, "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }, indent=2) + "\n")  # fmt: skip
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
