"""Tokens/s of each truncation strategy at the book's two configs, against this machine's matmul limit.

    python benchmarks/bench_throughput.py [--seconds 3] [--threads N]

The book's configs (d2l §8.5, §8.6): B=32, T=35, V=28, H=256 and H=512, sequential sampler, SGD, clipping
at 1, with the trainer's instrumentation on (per-parameter norms, ||dL/dh_t|| for every t, the spectral
norm every 10 steps). Each figure is also given as a fraction of the compute-bound limit, measured in the
same run: the matmul throughput of this machine at the recurrence's own shape (B, H) x (H, H), divided by
the FLOPs per token of one forward and backward pass (about 6 H^2 + 6 H V). The machine is shared and
noisy: compare ratios from one run, not figures across runs.

References on this 2-core machine (faithful re-implementation of the book's code): nn.RNN at H=256 about
77k tokens/s; the from-scratch model at H=512 about 30k tokens/s.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, no install needed

from bptt import RunConfig, Trainer
from bptt.data import load_corpus

REFERENCE = {256: 77_000, 512: 30_000}  # the book's code on this machine (see the docstring)
TARGET = {256: 1.2, 512: 1.0}  # targets, as multiples of the reference
STRATEGIES = {
    "full": dict(truncation="full"),
    "regular (k=35)": dict(truncation="regular", k=35),
    "regular (k=10)": dict(truncation="regular", k=10),
    "randomized (pi=0.9)": dict(truncation="randomized", schedule="constant", pi=0.9),
    "randomized (ARTBP)": dict(truncation="randomized", schedule="artbp", alpha=3.0, t0=10.0),
}


def matmul_gflops(B: int, H: int, seconds: float) -> float:
    """Sustained GFLOP/s of (B, H) x (H, H), the recurrence's shape."""
    a, w = torch.randn(B, H), torch.randn(H, H)
    out = torch.empty(B, H)
    for _ in range(50):
        torch.mm(a, w, out=out)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(100):
            torch.mm(a, w, out=out)
        n += 100
    return 2 * B * H * H * n / (time.perf_counter() - start) / 1e9


def tokens_per_sec(cfg: RunConfig, corpus, seconds: float) -> float:
    trainer = Trainer(cfg, corpus)
    trainer.run_for(0.5)  # warm-up: allocator, first spectral norm
    tokens0, wall0 = trainer.tokens, time.perf_counter()
    trainer.run_for(seconds)
    return (trainer.tokens - tokens0) / (time.perf_counter() - wall0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="measuring time per figure")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    parser.add_argument("--json", action="store_true", help="print one JSON object at the end")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    corpus = load_corpus("bundled", max_tokens=100_000)  # V = 28, as the book's Time Machine
    V = len(corpus.vocab)
    results = {"threads": torch.get_num_threads(), "configs": {}}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, V={V}, B=32, T=35")
    for H in (256, 512):
        gflops = matmul_gflops(32, H, 1.0)
        flops_per_token = 6 * H * H + 6 * H * V
        limit = gflops * 1e9 / flops_per_token
        print(f"\nH={H}: matmul (32,{H})x({H},{H}) {gflops:.1f} GFLOP/s -> limit {limit:,.0f} tokens/s")
        print(f"  {'strategy':22s} {'tokens/s':>10s} {'of limit':>9s} {'vs book':>8s}  target")
        rows = {}
        for name, overrides in STRATEGIES.items():
            cfg = RunConfig(
                corpus="bundled", max_tokens=100_000, num_hiddens=H, epochs=50, device="cpu", **overrides
            )
            tps = tokens_per_sec(cfg, corpus, args.seconds)
            ratio = tps / REFERENCE[H]
            target = f">= {TARGET[H]:.1f}x" if not name.startswith("randomized") else ""
            print(f"  {name:22s} {tps:10,.0f} {tps / limit:9.0%} {ratio:7.2f}x  {target}")
            rows[name] = {"tokens_per_sec": tps, "fraction_of_limit": tps / limit, "vs_book": ratio}
        reg = rows["regular (k=10)"]["tokens_per_sec"]
        for name in ("randomized (pi=0.9)", "randomized (ARTBP)"):
            print(f"  {name} / regular (k=10): {rows[name]['tokens_per_sec'] / reg:.2f} (target >= 0.80)")
        results["configs"][H] = {"matmul_gflops": gflops, "limit_tokens_per_sec": limit, "strategies": rows}
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
