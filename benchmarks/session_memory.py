"""Memory follows the sessions: six tabs train at H = 512 and close; when is the server's memory back?

    python benchmarks/session_memory.py [--tabs 6] [--train-seconds 15] [--out FILE]

(FILE: benchmarks/results/session_memory.json unless given.)

`streamlit run app.py` (the repository's .streamlit/config.toml, so its disconnectedSessionTTL) with six
training slots and one torch thread each; tests/test_session_memory.py's `measure`: one warm tab trains a
short H = 512 run to its end and stays open, then six tabs (six browser contexts of one Chromium, six
Streamlit sessions) each train the book's experiment at H = 512 for the given seconds and close. The
server's resident memory (VmRSS) before they opened, at its peak while they trained, and each second
after they closed until it is back within 50 MB of the level before (then 5 s more), for at most 90 s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from conftest import CHROMIUM, start_server  # noqa: E402
from test_session_memory import MARGIN_MB, measure  # noqa: E402


def readme_text(r: dict) -> str:
    """The sentence README's For a class quotes from the results file."""
    return (
        f"{r['tabs']} tabs each trained the book's experiment at H = 512 for {r['train_seconds']:.0f} s and "
        f"closed: the server held {r['rss_before_mb']:.0f} MB before they opened and "
        f"{r['rss_peak_mb']:.0f} MB at the peak, and {r['freed_after_s']:.0f} s after they closed it was "
        f"back within {MARGIN_MB:.0f} MB of where it started ({r['rss_after_mb']:.0f} MB)"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tabs", type=int, default=6)
    ap.add_argument("--train-seconds", type=float, default=15.0)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "session_memory.json")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    load_start = os.getloadavg()[0]
    server = start_server("session-memory-bench", BPTT_MAX_TRAINING=str(args.tabs), BPTT_TORCH_THREADS="1")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox"])
            r = measure(server, browser, args.tabs, args.train_seconds, limit_s=90.0)
            browser.close()
    finally:
        server.stop()
    r["machine"] = {
        "cpus": os.cpu_count(),
        "load_average": [round(load_start, 2), round(os.getloadavg()[0], 2)],
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    args.out.write_text(json.dumps(r, indent=1, sort_keys=True) + "\n")
    if r["freed_after_s"] is not None:
        print(readme_text(r))
    else:
        print(f"not back within {MARGIN_MB:.0f} MB in 90 s: {r['trace'][-1]}")
    return 0 if r["freed_after_s"] is not None and not any(r["errors"]) else 1


if __name__ == "__main__":
    sys.exit(main())
