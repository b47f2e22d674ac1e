"""The server's time per script run, for benchmarks/page_runs.py.

With BPTT_PAGE_TIMES naming a file, every page run (app.py's router, the page included) and every run of
a live panel appends one JSON line to it: {"kind": "page" | "panel", "page", "view", "seconds",
"finished", "at"}, plus what the run added to the dict `timed` yields (the live panel: its run's step
count and when it was read, "steps" and "steps_at"). `finished` is false for a run that Streamlit
stopped (a rerun or a newer click). Unset (as in production) it records nothing and costs nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time

PATH = os.environ.get("BPTT_PAGE_TIMES")
_lock = threading.Lock()


@contextlib.contextmanager
def timed(kind: str, **labels):
    extra: dict = {}
    if not PATH:
        yield extra
        return
    t0, finished = time.perf_counter(), False
    try:
        yield extra
        finished = True
    finally:
        line = {"kind": kind, **labels, **extra, "seconds": time.perf_counter() - t0, "finished": finished,
                "at": time.time()}  # fmt: skip
        with _lock, open(PATH, "a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")
