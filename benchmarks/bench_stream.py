"""Full computation over the whole sequence (d2l §8.7.1.1, bptt/truncation/stream.py) at the book's model
(H = 256, B = 32, T = 35, SGD lr 1, clip 1) on a text long enough for one stream to reach the 2,000-step
cap: per step, the time steps held, the bytes the graph holds and the backward pass's CPU time, written to
benchmarks/results/bench_stream.json with the process's resident memory before the stream and at the cap
(a check on the byte count), the windowed "full" step for scale, and the window bytes at the largest
settings the app allows (H = 512, B = 128, T = 32), where the byte cap binds first.

    python benchmarks/bench_stream.py [--threads 1] [--out benchmarks/results/bench_stream.json]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, no install needed

from bptt.config import RunConfig  # noqa: E402
from bptt.corpora import load_corpus  # noqa: E402
from bptt.data import num_batches  # noqa: E402
from bptt.model import CharRNN  # noqa: E402
from bptt.training import Trainer  # noqa: E402
from bptt.truncation.stream import MAX_STREAM_BYTES, MAX_STREAM_STEPS, Stream  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "bench_stream.json"


def trimmed_rss_mib() -> float:
    """The resident memory once glibc has handed its free pages back (malloc_trim): what is in use."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        return float("nan")
    return rss_mib()


def rss_mib() -> float:
    """The process's resident memory (Linux /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(RESULTS))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cfg = RunConfig(truncation="stream", corpus="bundled", max_tokens=100_000, epochs=1)
    corpus = load_corpus("bundled", max_tokens=cfg.max_tokens)
    trainer = Trainer(cfg, corpus)
    windows = MAX_STREAM_STEPS // cfg.num_steps  # 57 windows fill a stream; the 58th restarts it
    rss = {"before": rss_mib(), "before_trimmed": trimmed_rss_mib()}
    rows = []
    for _ in range(windows + 3):
        rec = trainer.step()
        rows.append({k: rec[k] for k in ("step", "held_steps", "graph_bytes", "backward_time", "loss")})
        if rec["held_steps"] == windows * cfg.num_steps:
            rss["at_cap"] = rss_mib()
            rss["at_cap_trimmed"] = trimmed_rss_mib()
    first = [r["backward_time"] for r in rows[:3]]
    at_cap = [r["backward_time"] for r in rows[windows - 3 : windows]]
    full = Trainer(cfg.replace(truncation="full"), corpus)
    walls = []
    for _ in range(20):
        start = time.perf_counter()
        full.step()
        walls.append(time.perf_counter() - start)
    # The book's experiment reads 10,000 tokens: its epochs are short streams, restarted long before the cap.
    book = Trainer(cfg.replace(max_tokens=10_000), load_corpus("bundled", max_tokens=10_000))
    book_held = [book.step()["held_steps"] for _ in range(book.batches_per_epoch)]
    need = next(n for n in range(10_000, 200_001, 1_000) if num_batches(n, 32, 35, "sequential") >= windows)
    big = CharRNN(len(corpus.vocab), 512)  # the largest model and window the app allows
    stream = Stream()
    X = torch.randint(0, len(corpus.vocab), (128, 32))
    stream.step(big, X, X)
    result = {
        "settings": {"num_hiddens": 256, "batch_size": 32, "num_steps": 35, "threads": a.threads},
        "caps": {"max_steps": MAX_STREAM_STEPS, "max_bytes": MAX_STREAM_BYTES},
        "bytes_per_step": (rows[1]["graph_bytes"] - rows[0]["graph_bytes"]) / cfg.num_steps,
        "graph_mib_at_cap": rows[windows - 1]["graph_bytes"] / 2**20,
        "held_steps_at_cap": rows[windows - 1]["held_steps"],
        "held_steps_after_restart": rows[windows]["held_steps"],
        "backward_cpu_s_first_windows": statistics.median(first),
        "backward_cpu_s_at_cap": statistics.median(at_cap),
        "full_within_window_step_wall_s": statistics.median(walls),
        "book_experiment": {"max_tokens": 10_000, "windows_per_epoch": book.batches_per_epoch,
                            "max_held_steps": max(book_held)},
        "tokens_for_a_full_stream": need,
        "rss_mib": rss,
        "rss_growth_mib": rss["at_cap"] - rss["before"],
        "rss_growth_trimmed_mib": rss["at_cap_trimmed"] - rss["before_trimmed"],
        "largest_settings": {"num_hiddens": 512, "batch_size": 128, "num_steps": 32,
                             "window_bytes": stream.last["graph_bytes"],
                             "steps_before_byte_cap": MAX_STREAM_BYTES // stream.last["graph_bytes"] * 32},
        "steps": rows,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "torch": torch.__version__},
    }  # fmt: skip
    Path(a.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "steps"}, indent=1))


if __name__ == "__main__":
    main()
