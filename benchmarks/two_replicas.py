"""deploy/'s topology under a class: 12 students over 2 replicas behind nginx, one board database.

    python benchmarks/two_replicas.py [--sessions 12] [--replicas 2] [--out FILE]

(FILE: benchmarks/results/two_replicas.json unless given.)

The topology of deploy/compose.yaml without Docker (tests/cluster.py): `streamlit run app.py` replicas on
loopback ports, Debian's nginx with the shipped deploy/nginx/bptt.conf.template (sticky sessions on a
cookie nginx sets), and one board database (a throw-away PostgreSQL cluster; a shared SQLite file where
PostgreSQL is not installed). Each student, in its own browser context, opens Train through nginx, trains
a tiny run to its end and posts it to the lecturer's board; then nginx reloads, which drops every
websocket, and each page must find its own session again on its own replica (its run still shown). The
lecturer's board page must show every post. tests/test_two_replicas.py runs the same with 4 students.
Exit status 1 when anything failed; the results file says what.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from cluster import drive_class, two_replicas  # noqa: E402
from conftest import CHROMIUM  # noqa: E402

from bptt.board import open_store  # noqa: E402

DATABASES = {"postgresql": "PostgreSQL", "sqlite": "a shared SQLite file"}


def readme_text(r: dict) -> str:
    """The sentence README's *For a class* quotes, from the results file (tests/test_readme_figures.py
    checks that README holds it)."""
    load = r["machine"]["load_average_start"][0], r["machine"]["load_average_end"][0]
    per = r["sessions_per_replica"]
    spread = f"{per[0]} on each replica" if len(set(per)) == 1 else f"{', '.join(map(str, per))} per replica"
    return (
        f"{r['sessions']} students over {r['replicas']} replicas, the board on {DATABASES[r['database']]}, "
        f"load average {load[0]:.1f} at the start and {load[1]:.1f} at the end: "
        f"{sum(f is not None for f in r['finished_seen_after_s'])} of {r['sessions']} trained to the end "
        f"({spread}; the last seen finished {r['finished_seen_after_s_max']:.0f} s after the first Start), "
        f"{r['kept_run_after_reconnect_count']} of {r['sessions']} kept their run when every websocket "
        f"dropped and reconnected, every request of each session reached one replica, and the board page "
        f"showed {r['board_shows']} posts ({r['posts_in_database']} in the database); "
        f"{'no failures' if r['passed'] else 'FAILURES: ' + '; '.join(r['failures'])}; "
        f"{r['wall_s']:.0f} s in all."
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=12)
    ap.add_argument("--replicas", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "two_replicas.json")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    load_start = os.getloadavg()
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        with two_replicas("two_replicas", args.replicas) as cluster:
            store = open_store(cluster["env"])
            result = drive_class(browser, cluster, args.sessions, store.posts)
        browser.close()
    finished = [f for f in result["finished_seen_after_s"] if f is not None]
    result["finished_seen_after_s_median"] = round(statistics.median(finished), 1) if finished else None
    result["finished_seen_after_s_max"] = max(finished) if finished else None
    result["kept_run_after_reconnect_count"] = sum(result["kept_run_after_reconnect"])
    result["passed"] = not result["failures"]
    result["machine"] = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_start": [round(x, 2) for x in load_start],
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    print(json.dumps(result, indent=1, sort_keys=True))
    print(readme_text(result))
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
