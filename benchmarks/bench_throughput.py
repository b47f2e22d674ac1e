"""Tokens/s of the project's Trainer against the book's own training loops, measured in one run.

    python benchmarks/bench_throughput.py [--text timemachine.txt] [--rounds 6] [--seconds 1.5]
                                          [--threads 1] [--json out.json]

Contestants (B=32, T=35, SGD lr 1, clipping at 1, sequential sampler, the first 10,000 tokens):
  book nn.RNN H=256      d2l §8.6's concise loop (benchmarks/d2l_reference.py)
  book scratch H=512     d2l §8.5's from-scratch loop
  project <strategy> H   the Trainer as the dashboard runs it, instrumentation on (per-parameter norms,
                         ||dL/dh_t|| for every t, the spectral norm every 10 steps, the history)
Every round runs each contestant for `--seconds`, in an order rotated by one each round, so that a
noisy neighbour on this shared machine hits all of them alike; the figures are medians over rounds,
and each ratio comes with the min-max of its per-round values.

The compute-bound limit: the time of the matmuls one window needs and nothing else (T steps of
(B,H)x(H,H) forward and backward, and the four stacked (T*B, .) products of the output layer and the
weight gradients), measured with repeats (median) before and after the training; B*T over that time
is the most tokens/s any loop can reach on this machine. A "fraction of the limit" above 100% would
mean the measurement is wrong, and the script fails.

Each figure is given twice: per wall-clock second, and per CPU second of this process
(time.process_time). With one torch thread the second is the work done, and a neighbour that takes
the core away changes it far less than the wall clock; the ratios are printed for both.
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

from d2l_reference import BookLoop  # noqa: E402 (after the path)

from bptt import RunConfig, Trainer  # noqa: E402
from bptt.corpora import CorpusUnavailable, bundled_text, time_machine_text  # noqa: E402
from bptt.data import make_corpus  # noqa: E402

B, T, MAX_TOKENS = 32, 35, 10_000
PROJECT = {
    "regular k=35": dict(truncation="regular", k=35),
    "full": dict(truncation="full"),
    "randomized pi=0.9": dict(truncation="randomized", schedule="constant", pi=0.9),
    "randomized ARTBP": dict(truncation="randomized", schedule="artbp", alpha=3.0, t0=10.0),
}


def load_text(path: str | None) -> tuple[str, str]:
    """The Time Machine from `path`, else from the project's verified cache (no download wait),
    else the bundled corpus."""
    if path and Path(path).is_file():
        return Path(path).read_text(encoding="utf-8"), f"The Time Machine ({path})"
    try:
        return time_machine_text(timeout=2.0), "The Time Machine (cache)"
    except CorpusUnavailable:
        return bundled_text(), "Shakespeare (bundled; The Time Machine unavailable)"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def matmul_window_seconds(H: int, V: int, repeats: int = 15) -> dict[str, float]:
    """Median time of the matmuls of one window (see the module docstring), and the GFLOP/s of the
    recurrence's shape (B, H) x (H, H) on its own."""
    h, W, out = torch.randn(B, H), torch.randn(H, H), torch.empty(B, H)
    Hs, dO, Wq = torch.randn(T * B, H), torch.randn(T * B, V), torch.randn(H, V)
    o, g, gq, gh = torch.empty(T * B, V), torch.empty(T * B, H), torch.empty(H, V), torch.empty(H, H)

    def window() -> None:
        for _ in range(2 * T):  # forward h_{t-1} W_hh and backward dA_t W_hh^T
            torch.mm(h, W, out=out)
        torch.mm(Hs, Wq, out=o)  # O = H W_hq
        torch.mm(dO, Wq.T, out=g)  # dL/dH = dO W_hq^T
        torch.mm(Hs.T, dO, out=gq)  # dL/dW_hq
        torch.mm(Hs.T, Hs, out=gh)  # dL/dW_hh (same shape as H_prev^T dA)

    def small() -> None:
        for _ in range(2 * T):
            torch.mm(h, W, out=out)

    for _ in range(20):
        window()
    reps = 20
    win, cpu, sm = [], [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(reps):
            window()
        win.append((time.perf_counter() - t0) / reps)
        cpu.append((time.process_time() - c0) / reps)
        t0 = time.perf_counter()
        for _ in range(reps):
            small()
        sm.append((time.perf_counter() - t0) / reps)
    small_s = statistics.median(sm)
    return {
        "window_s": statistics.median(win),
        "window_s_min": min(win),
        "window_cpu_s": statistics.median(cpu),
        "window_cpu_s_min": min(cpu),
        "gflops_BHxHH": 2 * B * H * H * 2 * T / small_s / 1e9,
    }


def spread(xs: list[float]) -> dict[str, float]:
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--text", default=None, help="The Time Machine as a local file")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=1.5, help="per contestant per round")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the app: 1 per slot)")
    parser.add_argument("--json", default=None, help="write the results to this file as well")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    text, source = load_text(args.text)
    corpus = make_corpus(text, source, max_tokens=MAX_TOKENS)
    V = len(corpus.vocab)
    machine = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "load_average_start": list(os.getloadavg()),
    }
    print(f"{machine['cpu']}, {machine['cores']} cores, torch {machine['torch']} with "
          f"{machine['torch_threads']} thread(s), load average {machine['load_average_start']}")  # fmt: skip
    print(f"corpus: {source}, {len(corpus)} tokens, V={V}, B={B}, T={T}")

    limits_before = {H: matmul_window_seconds(H, V) for H in (256, 512)}

    def contestants():
        yield "book nn.RNN H=256", BookLoop("concise", corpus.corpus, V, 256)
        yield "book scratch H=512", BookLoop("scratch", corpus.corpus, V, 512)
        for H in (256, 512):
            for name, over in PROJECT.items():
                cfg = RunConfig(num_hiddens=H, epochs=1000, device="cpu", **over)
                yield f"project {name} H={H}", Trainer(cfg, corpus)

    runners = dict(contestants())
    for r in runners.values():  # warm-up: allocator, first spectral norm
        r.run_for(0.3)
    names = list(runners)
    rates: dict[str, list[float]] = {n: [] for n in names}  # tokens per wall-clock second
    cpu_rates: dict[str, list[float]] = {n: [] for n in names}  # tokens per CPU second of this process
    for rnd in range(args.rounds):
        order = names[rnd % len(names) :] + names[: rnd % len(names)]
        for n in order:
            runner = runners[n]
            t0, c0 = time.perf_counter(), time.process_time()
            if isinstance(runner, Trainer):
                tok0 = runner.tokens
                runner.run_for(args.seconds)
                tokens = runner.tokens - tok0
            else:
                tokens = runner.run_for(args.seconds)
            rates[n].append(tokens / (time.perf_counter() - t0))
            cpu_rates[n].append(tokens / (time.process_time() - c0))
        print(f"round {rnd + 1}/{args.rounds} done, load average {os.getloadavg()[0]:.2f}", flush=True)

    limits_after = {H: matmul_window_seconds(H, V) for H in (256, 512)}
    machine["load_average_end"] = list(os.getloadavg())

    results: dict = {"machine": machine, "corpus": source, "rounds": args.rounds,
                     "seconds_per_round": args.seconds, "limit": {}, "tokens_per_sec": {},
                     "tokens_per_cpu_sec": {}, "ratios": {}, "ratios_cpu": {}}  # fmt: skip
    for H in (256, 512):
        lb, la = limits_before[H], limits_after[H]
        results["limit"][H] = {
            "tokens_per_sec": B * T / statistics.median([lb["window_s"], la["window_s"]]),
            "tokens_per_cpu_sec": B * T / statistics.median([lb["window_cpu_s"], la["window_cpu_s"]]),
            "window_matmul_s_before": lb["window_s"],
            "window_matmul_s_after": la["window_s"],
            "gflops_BHxHH_before": lb["gflops_BHxHH"],
            "gflops_BHxHH_after": la["gflops_BHxHH"],
        }
    # The limit for the fraction: the fastest window seen, before or after, so that it is an upper bound.
    for clock, table, key in (("wall", rates, "tokens_per_sec"), ("cpu", cpu_rates, "tokens_per_cpu_sec")):
        for n in names:
            H = 256 if n.endswith("H=256") else 512
            field = "window_s_min" if clock == "wall" else "window_cpu_s_min"
            limit = B * T / min(limits_before[H][field], limits_after[H][field])
            med = statistics.median(table[n])
            results[key][n] = {**spread(table[n]), "fraction_of_limit": med / limit}
            assert med / limit <= 1.0, f"{n}: {med:,.0f} tokens/s ({clock}) is above the limit {limit:,.0f}"

    pairs = []
    for name in PROJECT:
        target = None if name.startswith("randomized") else 1.5
        pairs.append((f"project {name} H=256", "book nn.RNN H=256", target))
        pairs.append((f"project {name} H=512", "book scratch H=512", target))
    for H in (256, 512):
        for name in ("randomized pi=0.9", "randomized ARTBP"):
            pairs.append((f"project {name} H={H}", f"project regular k=35 H={H}", 0.9))
    for key, table in (("ratios", rates), ("ratios_cpu", cpu_rates)):
        for a, b, target in pairs:
            per_round = [x / y for x, y in zip(table[a], table[b], strict=True)]
            results[key][f"{a} / {b}"] = {**spread(per_round), "target": target}

    # The human table
    print(f"\n{'contestant':34s} {'tokens/s':>9s} {'min':>9s} {'max':>9s} {'of limit':>9s} "
          f"{'tok/CPU-s':>10s} {'of limit':>9s}")  # fmt: skip
    for n in names:
        s, c = results["tokens_per_sec"][n], results["tokens_per_cpu_sec"][n]
        print(f"{n:34s} {s['median']:9,.0f} {s['min']:9,.0f} {s['max']:9,.0f} {s['fraction_of_limit']:9.1%} "
              f"{c['median']:10,.0f} {c['fraction_of_limit']:9.1%}")  # fmt: skip
    for H in (256, 512):
        li = results["limit"][H]
        before, after = li["window_matmul_s_before"] * 1e3, li["window_matmul_s_after"] * 1e3
        gf = f"{li['gflops_BHxHH_before']:.1f} / {li['gflops_BHxHH_after']:.1f}"
        print(f"limit H={H}: {li['tokens_per_sec']:,.0f} tokens/s, {li['tokens_per_cpu_sec']:,.0f} per CPU-s "
              f"(matmuls of a window: {before:.2f} ms before, {after:.2f} ms after; "
              f"(32,{H})x({H},{H}) {gf} GFLOP/s)")  # fmt: skip
    print(
        f"\n{'ratio: median of per-round ratios (min-max)':62s} {'wall clock':>17s} {'CPU time':>17s} target"
    )
    for k, v in results["ratios"].items():
        c = results["ratios_cpu"][k]
        tgt = f">= {v['target']}" if v["target"] else ""
        ok = "" if not v["target"] else ("  ok" if v["median"] >= v["target"] else "  MISSED")
        print(f"{k:62s} {v['median']:5.2f} ({v['min']:.2f}-{v['max']:.2f}) "
              f"{c['median']:5.2f} ({c['min']:.2f}-{c['max']:.2f}) {tgt}{ok}")  # fmt: skip
    print(f"load average at the end: {machine['load_average_end']}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
