"""The Gradient lab's numbers on The Time Machine, at the initialisation and after the book's 500 epochs
(d2l §8.5: num_hiddens=256, num_steps=35, batch_size=32, SGD lr=1, clipping at θ=1, sequential
sampling, 10,000 tokens), written to benchmarks/results/lab_numbers.json (README's Gradient lab figures
are read from it, and tests/test_readme_figures.py checks that they agree): the projection share and the
tail norm of lags beyond 10 and beyond 20, σ_max(W_hh), the smallest regular k within ε = 0.05, each
estimator's exact bias, variance and MSE (bptt/lab/moments.py), and the same MSE sampled over `--draws`
draws with its standard error.

    python benchmarks/lab_numbers.py --text timemachine.txt [--draws 2000] [--weights /tmp/w.pt]

Torch runs on one thread so the training is the same on every machine of this kind (a reduction split
over threads rounds differently, and 4,000 SGD steps amplify it). Without --text the corpus is downloaded
(and cached) as the app does.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from bptt import CharRNN, RunConfig, Trainer  # noqa: E402
from bptt.corpora import load_corpus  # noqa: E402
from bptt.lab import (
    estimators,
    lags,  # noqa: E402
)
from bptt.lab import reports as gradlab

RESULTS = Path(__file__).resolve().parent / "results" / "lab_numbers.json"
STRATEGIES = gradlab.lab_strategies(10, pis=(0.5, 0.9), t0s=(50.0,))  # regular:10 ... artbp:3:50
# The results file's first version named the strategies by labels; read back as the keys (Strategy.key).
OLD_KEYS = {"regular k=10": "regular:10", "randomized pi=0.5": "randomized:0.5",
            "randomized pi=0.9": "randomized:0.9", "ARTBP T0=50": "artbp:3:50"}  # fmt: skip


def numbers(model, X, Y, draws: int) -> dict:
    rep = gradlab.lag_report(model, X, Y, STRATEGIES)
    sweep = gradlab.regular_sweep(model, X, Y)
    within = sweep.loc[sweep["bias"] <= 0.05, "k"]
    win = lags.forward_window(model, X, Y, dtype=torch.float32)
    g = estimators.full_gradient(lags.forward_window(model, X, Y)).float()
    gen = torch.Generator().manual_seed(0)
    sampled = {}
    for s in STRATEGIES[1:]:  # the random ones
        st = estimators.estimator_stats(win, s.gates(X.shape[1]), draws, label=s.key, generator=gen, g=g)
        sampled[st.label] = {"draws": st.n, "mse": st.mse, "mse_se": st.mse_se}
    exact = {
        r["strategy"]: {k: r[k] for k in ("bias", "variance", "mse", "draws_to_see")}
        for r in rep.exact.to_dict("records")
    }
    return {
        "share_beyond_10": rep.share_beyond(10),
        "share_beyond_20": rep.share_beyond(20),
        "tail_norm_beyond_10": rep.norm_beyond(10),
        "tail_norm_beyond_20": rep.norm_beyond(20),
        "sigma_max_W_hh": rep.sigma_max,
        "smallest_k_within_0.05": int(within.min()) if len(within) else None,
        "exact": exact,
        "sampled": sampled,
    }


def check_numbers() -> dict:
    """The exact figures of the seeded initialisation on the bundled corpus's first minibatch (the
    same window sizes): quick to recompute, so tests/test_readme_figures.py recomputes them and fails
    when a change of code moves the lab's numbers without this file being regenerated."""
    corpus = load_corpus("bundled", max_tokens=10_000)
    X, Y = gradlab.minibatch(corpus, 32, 35, 0)
    model = gradlab.init_model(len(corpus.vocab), 256, 0)
    rep = gradlab.lag_report(model, X, Y, STRATEGIES)
    return {
        "share_beyond_10": rep.share_beyond(10),
        "tail_norm_beyond_10": rep.norm_beyond(10),
        "exact": {
            r["strategy"]: {"bias": r["bias"], "variance": r["variance"]}
            for r in rep.exact.to_dict("records")
        },
    }


def read_results(path: Path) -> dict:
    """A results file of this script, its strategies named by their keys (a first-version file's labels
    are renamed by OLD_KEYS)."""
    r = json.loads(Path(path).read_text())
    for part in ("init", "trained", "check"):
        for table in ("exact", "sampled"):
            if table in r.get(part, {}):
                r[part][table] = {OLD_KEYS.get(k, k): v for k, v in r[part][table].items()}
    return r


def fmt(x: float) -> str:
    """Three significant figures; powers of ten as 1.2e-09 below 0.001 and above 10,000."""
    if x == 0:
        return "0"
    return f"{x:.2e}" if abs(x) < 1e-3 or abs(x) >= 1e4 else f"{x:.3g}"


def readme_table(r: dict) -> str:
    """README's Gradient lab table, from a results file of this script."""
    i, t = r["init"], r["trained"]
    rows = [
        f"| | initialisation (σ_max(W_hh) = {i['sigma_max_W_hh']:.2g}) | after the book's "
        f"{r['settings']['epochs']} epochs (σ_max = {t['sigma_max_W_hh']:.2g}, "
        f"perplexity {r['perplexity']:.3g}) |",
        "|---|---|---|",
    ]

    def both(name: str, f) -> None:
        rows.append(f"| {name} | {f(i)} | {f(t)} |")

    both(
        "projection share of lags > 10 / > 20",
        lambda x: f"{fmt(x['share_beyond_10'])} / {fmt(x['share_beyond_20'])}",
    )
    both("tail norm ‖Σ_{k>K} g_k‖/‖g‖, K = 10 / 20",
         lambda x: f"{fmt(x['tail_norm_beyond_10'])} / {fmt(x['tail_norm_beyond_20'])}")  # fmt: skip
    both(
        "regular k = 10: exact relative bias (variance exactly 0)",
        lambda x: fmt(x["exact"]["regular:10"]["bias"]),
    )
    names = {"randomized:0.9": "randomized π = 0.9", "randomized:0.5": "randomized π = 0.5",
             "artbp:3:50": "ARTBP T0 = 50"}  # fmt: skip
    for label, name in names.items():
        n = r["trained"]["sampled"][label]["draws"]

        def cell(x, label=label):
            e, smp = x["exact"][label], x["sampled"][label]
            return (f"{fmt(e['variance'])} / {fmt(smp['mse'])} ± {fmt(smp['mse_se'])} / "
                    f"{fmt(e['draws_to_see'])}")  # fmt: skip

        both(
            f"{name}: relative variance, exact (bias 0) / sampled over {n:,} draws ± s.e. / draws to see",
            cell,
        )
    both("smallest k within ε = 0.05", lambda x: str(x["smallest_k_within_0.05"]))
    return "\n".join(rows)


def train(cfg, corpus, cache: str | None) -> dict:
    """The book's training run: its initial and final weights, steps, seconds and perplexity. With a
    cache path, read from it when it holds this very configuration, else trained and written there (the
    training is deterministic on a CPU: the seed fixes the initialisation and the sampler)."""
    path = Path(cache) if cache else None
    if path is not None and path.exists():
        saved = torch.load(path, weights_only=True)
        if saved.get("settings") == json.dumps(cfg.to_dict(), sort_keys=True):
            return saved
    trainer = Trainer(cfg, corpus)
    start = time.perf_counter()
    trainer.run()
    out = {
        "settings": json.dumps(cfg.to_dict(), sort_keys=True),
        "steps": trainer.step_count,
        "train_seconds": round(time.perf_counter() - start, 1),
        "perplexity": trainer.perplexity(),
        "init": trainer.snapshot_model(0).state_dict(),
        "trained": {n: p.detach().cpu().clone() for n, p in trainer.model.state_dict().items()},
    }
    if path is not None:
        torch.save(out, path)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--text", help="a local copy of timemachine.txt (default: download it)")
    p.add_argument("--epochs", type=int, default=500)
    p.add_argument("--draws", type=int, default=2000)
    p.add_argument("--weights", help="cache of the trained weights (read if it holds these settings)")
    p.add_argument("--out", default=str(RESULTS), help="the results file (default: %(default)s)")
    p.add_argument("--table", action="store_true", help="only print README's table from the results file")
    args = p.parse_args()
    if args.table:
        print(readme_table(read_results(Path(args.out))))
        return
    torch.set_num_threads(1)
    if args.text:  # read from the local copy; cached in a temporary folder, not the app's cache
        with tempfile.TemporaryDirectory() as cache:
            url = Path(args.text).resolve().as_uri()
            corpus = load_corpus("time_machine", max_tokens=10_000, url=url, cache_dir=cache)
    else:
        corpus = load_corpus("time_machine", max_tokens=10_000)
    cfg = RunConfig(corpus="time_machine", num_hiddens=256, epochs=args.epochs, device="cpu")
    trained = train(cfg, corpus, args.weights)
    X, Y = gradlab.minibatch(corpus, cfg.batch_size, cfg.num_steps, 0)  # the lab's minibatch, seed 0
    init, model = (CharRNN(len(corpus.vocab), cfg.num_hiddens) for _ in range(2))
    init.load_state_dict(trained["init"])
    model.load_state_dict(trained["trained"])
    start = time.perf_counter()
    result = {
        "machine": {
            "platform": platform.platform(),
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "date": time.strftime("%Y-%m-%d"),
        },  # fmt: skip
        "settings": cfg.to_dict(),
        "steps": trained["steps"],
        "train_seconds": trained["train_seconds"],
        "perplexity": trained["perplexity"],
        "init": numbers(init, X, Y, args.draws),
        "trained": numbers(model, X, Y, args.draws),
        "check": check_numbers(),
    }
    result["analysis_seconds"] = round(time.perf_counter() - start, 1)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(readme_table(result))


if __name__ == "__main__":
    main()
