"""Gradient lab speed (d2l §8.7 setting H=256, T=35, B=32), as medians over alternating repeats.

Reference: one full-window backward pass `bptt.truncation.bptt` (float32, as training runs it) on the
same minibatch; each measurement is also given as a ratio to the reference of the same repeat.
    lags+travel : forward_window (float64) + lag_decomposition + travel
    draws       : 1000 draws of randomized pi=0.9 with their statistics (float32 draws, float64 g)

    OMP_NUM_THREADS=2 python benchmarks/bench_gradlab.py [--repeats 3] [--corpus PATH]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, no install needed

from bptt.corpora import load_corpus
from bptt.data import make_corpus
from bptt.lab import estimators, lags
from bptt.lab import reports as gradlab
from bptt.truncation import ConstantPi, Full, Randomized, bptt


def timed(f) -> float:
    t = time.perf_counter()
    f()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--corpus", default="/work/shared/data/timemachine.txt")
    a = ap.parse_args()
    path = Path(a.corpus)
    corpus = (
        make_corpus(path.read_text(), "The Time Machine (local)") if path.exists() else load_corpus("bundled")
    )
    X, Y = gradlab.minibatch(corpus, 32, 35, 0)
    model = gradlab.init_model(len(corpus.vocab), 256, 0)
    xi = Full().gates(32, 35)

    def lags_travel():
        win = lags.forward_window(model, X, Y)
        lags.lag_decomposition(win)
        lags.travel(win)

    def draws():
        win = lags.forward_window(model, X, Y, dtype=torch.float32)
        g = estimators.full_gradient(lags.forward_window(model, X, Y)).float()
        estimators.estimator_stats(win, Randomized(ConstantPi(0.9)), a.draws, g=g)

    res = {"ref": [], "lags+travel": [], "draws": []}
    lags_travel()  # warm-up
    for _ in range(a.repeats):
        res["ref"].append(statistics.median(timed(lambda: bptt(model, X, Y, xi)) for _ in range(5)))
        res["lags+travel"].append(timed(lags_travel))
        res["ref"].append(statistics.median(timed(lambda: bptt(model, X, Y, xi)) for _ in range(5)))
        res["draws"].append(timed(draws))
    ref = statistics.median(res["ref"])
    print(f"corpus: {corpus.name}; threads {torch.get_num_threads()}; repeats {a.repeats}")
    for name, ts in res.items():
        m = statistics.median(ts)
        print(f"{name:12s} median {m:8.3f} s  ({m / ref:7.1f} x one full bptt)  all: "
              + ", ".join(f"{t:.3f}" for t in ts))  # fmt: skip


if __name__ == "__main__":
    main()
