"""How soon a replay's curves are drawn on Train: AppTest opens the page (not timed), chooses a shipped
recording and presses Add replay; timed is that script run, from the click to the page drawn with the
replay's loss curve (the figure built server-side; the browser's drawing is not included).

    python benchmarks/replay_open.py [--repeats 5]

Writes benchmarks/results/replay_open.json (per speed: every time and the median, in seconds).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streamlit.testing.v1 import AppTest  # noqa: E402

from bptt.hosting.recordings import load_shipped  # noqa: E402

KEY = "book-regular-k10"
PARAMS = {"corpus": "bundled", "max_tokens": "2000", "num_hiddens": "32", "epochs": "2", "lang": "en"}


def once(speed: float) -> float:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run(timeout=120)
    at.query_params.update(PARAMS)
    at.switch_page("pages/train.py").run(timeout=120)
    at.selectbox(key="ui_replay").set_value(KEY)
    at.segmented_control(key="ui_replay_speed").set_value(speed)
    button = at.button(key="btn_replay").click()
    start = time.perf_counter()
    button.run(timeout=120)
    seconds = time.perf_counter() - start
    assert not at.exception, at.exception
    assert any("replay" in c.proto.spec for c in at.get("plotly_chart")), "no replay curve drawn"
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    load_shipped(KEY)  # a server reads a recording once per process; the first visitor pays for it
    results = {}
    for speed in (10.0, math.inf):
        times = [once(speed) for _ in range(args.repeats)]
        results["instant" if math.isinf(speed) else f"{speed:g}x"] = {
            "seconds": times,
            "median_seconds": statistics.median(times),
        }
        print(speed, [f"{t:.3f}" for t in times], flush=True)
    start = time.perf_counter()
    from bptt.hosting.recordings import REPLAY_DIR, read_recording

    read_recording(REPLAY_DIR / f"{KEY}.npz")
    read_s = time.perf_counter() - start
    out = ROOT / "benchmarks" / "results" / "replay_open.json"
    out.write_text(json.dumps({"recording": KEY, "read_seconds": read_s, "click_to_curves": results,
                               "machine": platform.machine(), "python": platform.python_version()}, indent=2)
                   + "\n")  # fmt: skip
    print(out.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
