"""The live page's server time per page run, and one session's training speed in the app against the
CLI's, at the book's settings, in one run of this script.

    python benchmarks/page_runs.py [--view-seconds 10] [--rounds 3] [--seconds 15]

Settings: the book's experiment (H=256, batch 32, num_steps 35, regular truncation at k=35, SGD lr 1,
clipping at 1) on the bundled corpus, 10,000 tokens.

(1) Server time per script run. A real server (`streamlit run app.py`, BPTT_PAGE_TIMES set: every page
    run and every run of the live panel writes its server time, pages/ui/timing.py) and a real browser:
    Train opens, Start, and once the run has passed 200 steps each chart view is shown for `--view-seconds`
    while the run trains in the process's workers. Per view: the live panel's timer runs (about one a
    second: what a watcher costs) and the page runs (a click's full rerun), median and max of those that
    finished. The first second after each click is left out (the click's own run is counted as a page run).
(2) Training speed, alternating over `--rounds`, in the same server and browser: the app (the run
    resumed, its live panel redrawing once a second in the loss view while the workers train it for
    `--seconds`; tokens from the run's step count as the panel's runs read it, over the server's clock
    between the first and the last of them; then paused) and the CLI (`python -m bptt train` on the same
    settings for about as many steps; its training loop's tokens over its wall time, as it reports
    them). Both with one torch thread: the app's setting with two training slots on two cores. The ratio
    is the median of the per-round ratios.

On a machine with two cores or more, the server and the CLI run on core 0 and this script with its
browser on core 1 (`--no-pin` turns it off): a watcher's browser is on the student's machine, not the
server's, and Chromium redrawing two Plotly charts a second on the server's cores would be charged to
the app. Each side, app and CLI, then has one core, as a Community Cloud app has one or two.

Writes benchmarks/results/page_runs.json (with the machine's load average).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "benchmarks" / "results" / "page_runs.json"
SETTINGS = {"corpus": "bundled", "max_tokens": "10000", "epochs": "5000"}  # the book's model, never done
VIEWS = ("curves", "gradients", "dh", "speed", "runs")
PIN: dict[str, set[int]] = {}  # {"server": cores for the server and the CLI, "browser": this script's}
B, T = 32, 35


def measure(view_seconds: float, rounds: int, seconds: float) -> tuple[dict, list[dict]]:
    import tempfile

    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import CHROMIUM, SETTLED, PageWatch, control, start_server, view_buttons, wait_steps_above

    log = Path(tempfile.mkdtemp()) / "times.jsonl"
    server = start_server("page-runs", BPTT_PAGE_TIMES=str(log), BPTT_MAX_TRAINING="2")
    if PIN:  # every thread the server has now; the threads it starts later inherit their creator's
        for task in Path(f"/proc/{server.proc.pid}/task").iterdir():
            os.sched_setaffinity(int(task.name), PIN["server"])
    out = {}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM)
            pw = PageWatch(browser)
            page = pw.page
            query = "&".join(f"{k}={v}" for k, v in SETTINGS.items())
            page.goto(f"{server.url}/train?{query}")
            page.wait_for_selector(SETTLED, timeout=60_000)
            control(page, "Start").click()
            wait_steps_above(page, 200, timeout=120)
            for i, view in enumerate(VIEWS):
                clicked = time.time()
                view_buttons(page).nth(i).click()
                time.sleep(view_seconds)
                lines = [json.loads(x) for x in log.read_text().splitlines()]
                mine = [x for x in lines if x["at"] > clicked + 1.0 and x.get("view") == view]
                out[view] = {}
                for kind in ("panel", "page"):
                    done = [x["seconds"] for x in mine if x["kind"] == kind and x["finished"]]
                    stopped = sum(1 for x in mine if x["kind"] == kind and not x["finished"])
                    out[view][kind] = {"runs": len(done), "stopped": stopped,
                                       "median_s": statistics.median(done) if done else None,
                                       "max_s": max(done) if done else None}  # fmt: skip
                panel = out[view]["panel"]
                if panel["runs"]:
                    n, med, top = panel["runs"], panel["median_s"], panel["max_s"]
                    print(f"  view {view}: panel runs {n}, median {med:.3f} s, max {top:.3f} s", flush=True)
            print("(2) training speed: the app against the CLI", flush=True)
            view_buttons(page).nth(0).click()
            speed = speed_rounds(page, log, rounds, seconds)
            control(page, "Stop").click()
            if pw.errors:
                print("browser errors:", pw.errors)
            pw.close()
            browser.close()
        clicks = [json.loads(x) for x in log.read_text().splitlines()]
        runs = [
            x["seconds"] for x in clicks if x["kind"] == "page" and x["finished"] and x["page"] == "train"
        ]
        out["page_runs_train"] = {"runs": len(runs), "median_s": statistics.median(runs), "max_s": max(runs)}
        print(f"  Train's page runs (clicks): {len(runs)}, median {statistics.median(runs):.3f} s, "
              f"max {max(runs):.3f} s", flush=True)  # fmt: skip
    finally:
        server.stop()
    return out, speed


def app_speed(page, log: Path, seconds: float) -> dict:
    """Resume the run, let it train `seconds` with its panel redrawing, pause: tokens/s from the step
    counts the panel's runs read, over the server's clock between the first and the last of them."""
    from conftest import control

    control(page, "Resume").click()
    time.sleep(2.0)  # the Resume's own page run and the first slice
    t0 = time.time()
    time.sleep(seconds)
    control(page, "Pause").click()
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    seen = [x for x in lines if x["kind"] == "panel" and "steps" in x and t0 <= x["steps_at"] <= t0 + seconds]
    first, last = seen[0], seen[-1]
    n, wall = last["steps"] - first["steps"], last["steps_at"] - first["steps_at"]
    time.sleep(1.0)  # the pause takes effect after the step in flight
    return {"steps": n, "seconds": wall, "tokens_per_sec": n * B * T / wall}


def speed_rounds(page, log: Path, rounds: int, seconds: float) -> list[dict]:
    from conftest import control

    from bptt.data import num_batches

    control(page, "Pause").click()
    time.sleep(1.0)
    per_epoch = num_batches(10_000, B, T, "sequential")
    out = []
    for i in range(rounds):
        app = app_speed(page, log, seconds)
        cli = cli_speed(max(1, round(app["steps"] / per_epoch)))
        out.append({"app": app, "cli": cli, "ratio": app["tokens_per_sec"] / cli["tokens_per_sec"]})
        a, c, r = app["tokens_per_sec"], cli["tokens_per_sec"], out[-1]["ratio"]
        print(f"  round {i}: app {a:,.0f} tokens/s ({app['steps']} steps), CLI {c:,.0f} tokens/s "
              f"({cli['steps']} steps): ratio {r:.2f}", flush=True)  # fmt: skip
    return out


def cli_speed(epochs: int) -> dict:
    args = ["--corpus=bundled", "--max-tokens=10000", f"--epochs={epochs}", "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "BPTT_DATA_URL": "http://127.0.0.1:9/"}
    pin = ["taskset", "-c", ",".join(map(str, PIN["server"]))] if PIN else []
    out = subprocess.run([*pin, sys.executable, "-m", "bptt", "train", *args], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=False)  # fmt: skip
    r = json.loads(out.stdout.strip().splitlines()[-1])  # exit 1 when the run diverged: still timed
    return {"steps": r["steps"], "seconds": r["seconds"], "tokens_per_sec": r["tokens"] / r["seconds"],
            "status": r["status"]}  # fmt: skip


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--view-seconds", type=float, default=10.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--no-pin", action="store_true", help="leave the server, CLI and browser on every core")
    args = ap.parse_args(argv)
    cores = sorted(os.sched_getaffinity(0))
    if not args.no_pin and len(cores) >= 2:
        PIN.update(server={cores[0]}, browser={cores[1]})
        os.sched_setaffinity(0, PIN["browser"])  # this script, and the Chromium it starts
    os.environ.setdefault("BPTT_MAX_TRAINING", "2")
    load = os.getloadavg()
    print("(1) page-run time at the book's settings", flush=True)
    pages, rounds = measure(args.view_seconds, args.rounds, args.seconds)
    ratio = statistics.median(r["ratio"] for r in rounds)
    print(f"  median ratio app / CLI: {ratio:.2f}")
    result = {
        "settings": {**SETTINGS, "num_hiddens": 256, "batch_size": B, "num_steps": T, "torch_threads": 1},
        "machine": {
            "platform": platform.platform(),
            "cores": os.cpu_count(),
            "load_average": load,
            "load_average_after": os.getloadavg(),
            "pinned": {k: sorted(v) for k, v in PIN.items()},
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        },  # fmt: skip
        "page_runs": pages,
        "speed_rounds": rounds,
        "speed_ratio_median": ratio,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
