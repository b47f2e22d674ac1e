"""Exact moments' speed at the book's window (d2l §8.5: H=256, T=35, B=32), written to
benchmarks/results/bench_moments.json: the per-window parts (forward pass and lag decomposition; the
rows' Gram matrices of the path gradients) and each further strategy (its pair moments and sums), as
medians over repeats, beside one full-window backward pass `bptt.truncation.bptt` for scale.

    python benchmarks/bench_moments.py [--repeats 5] [--threads 1] [--corpus path/to/timemachine.txt]

The minibatch comes from a local text file given with --corpus (the book's The Time Machine, for the
figures README quotes), else from the bundled corpus.
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

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, no install needed

from bptt.corpora import load_corpus  # noqa: E402
from bptt.data import make_corpus  # noqa: E402
from bptt.lab import lags, moments  # noqa: E402
from bptt.lab import reports as gradlab  # noqa: E402
from bptt.truncation import ARTBPPi, ConstantPi, Full, Randomized, bptt  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "bench_moments.json"


def timed(f) -> float:
    t = time.perf_counter()
    f()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--corpus", type=Path, default=None, help="a local text file (default: the bundled corpus)"
    )
    ap.add_argument("--out", default=str(RESULTS))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if a.corpus is None:
        corpus = load_corpus("bundled")
    else:
        corpus = make_corpus(a.corpus.read_text(encoding="utf-8"), f"{a.corpus.name} (local)")
    X, Y = gradlab.minibatch(corpus, 32, 35, 0)
    model = gradlab.init_model(len(corpus.vocab), 256, 0)
    xi = Full().gates(32, 35)
    strategies = {
        "randomized pi=0.5": Randomized(ConstantPi(0.5)),
        "ARTBP T0=50": Randomized(ARTBPPi(3.0, 50.0)),
    }
    res = {"one bptt": [], "forward and lag decomposition": [], "Gram": []} | {
        f"+ {n}": [] for n in strategies
    }
    for _ in range(a.repeats):
        res["one bptt"].append(statistics.median(timed(lambda: bptt(model, X, Y, xi)) for _ in range(5)))
        start = time.perf_counter()
        win = lags.forward_window(model, X, Y)
        mom = moments.Moments(win)  # the lag decomposition's projections, for the per-lag kept shares
        res["forward and lag decomposition"].append(time.perf_counter() - start)
        res["Gram"].append(timed(lambda mom=mom: mom.gram))
        for name, s in strategies.items():
            res[f"+ {name}"].append(timed(lambda s=s, mom=mom: mom.of(s)))
    out = {
        "machine": {
            "platform": platform.platform(),
            "torch": torch.__version__,
            "threads": a.threads,
            "date": time.strftime("%Y-%m-%d"),
            "load_average_1min_after": round(os.getloadavg()[0], 2),
        },  # fmt: skip
        "window": {"num_hiddens": 256, "num_steps": 35, "batch_size": 32, "corpus": corpus.name},
        "repeats": a.repeats,
        "median_seconds": {k: round(statistics.median(v), 4) for k, v in res.items()},
        "all_seconds": {k: [round(t, 4) for t in v] for k, v in res.items()},
    }
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out["median_seconds"], indent=1))


if __name__ == "__main__":
    main()
