"""The Gradient lab's numbers on The Time Machine, at the initialisation and after the book's 500 epochs
(d2l §8.5: num_hiddens=256, num_steps=35, batch_size=32, SGD lr=1, clipping at θ=1, sequential
sampling, 10,000 tokens), printed as JSON: the share of the full-window gradient from lags beyond 10 and
beyond 20, and where regular k=10, randomized π=0.9 and ARTBP T0=50 lie on the bias–variance plane.

    OMP_NUM_THREADS=1 python benchmarks/lab_numbers.py [--text timemachine.txt] [--draws 2000]

Trains for a few minutes on one core (4,000 steps). Without --text the corpus is downloaded (and cached)
as the app does.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from bptt import CharRNN, RunConfig, Trainer, gradlab  # noqa: E402
from bptt.data import load_corpus  # noqa: E402

STRATEGIES = [("regular", 10), ("randomized", 0.9), ("artbp", 50.0)]


def numbers(model, X, Y, draws: int) -> dict:
    rep = gradlab.lag_report(model, X, Y)
    stats, _cos, sweep = gradlab.estimator_report(model, X, Y, STRATEGIES, draws, seed=0)
    within = sweep.loc[sweep["bias"] <= 0.05, "k"]
    return {
        "share_beyond_10": rep.share_beyond(10),
        "share_beyond_20": rep.share_beyond(20),
        "sigma_max_W_hh": rep.sigma_max,
        "smallest_k_within_0.05": int(within.min()) if len(within) else None,
        "estimators": stats[["strategy", "draws", "bias", "bias_se", "variance", "mse"]].to_dict("records"),
    }


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
    args = p.parse_args()
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
    result = {
        "settings": cfg.to_dict(),
        "steps": trained["steps"],
        "train_seconds": trained["train_seconds"],
        "perplexity": trained["perplexity"],
        "init": numbers(init, X, Y, args.draws),
        "trained": numbers(model, X, Y, args.draws),
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
