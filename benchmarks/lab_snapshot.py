"""The Gradient lab's shipped trained weights: the book's experiment (d2l §8.5, §8.7: num_hiddens=256,
num_steps=35, batch_size=32, SGD lr=1, clipping at θ=1, sequential partitioning, 500 epochs) on the
bundled corpus's first 10,000 tokens, the corpus and window the lab's own weights use. Writes the float16
weights to bptt/results/lab_trained.pt (a plain tensor dict, read back with `weights_only=True`) and
their metadata beside it (bptt/results/lab_trained.json): the settings, the training's own last-epoch
perplexity, the perplexity of the float16 weights recomputed over the corpus
(bptt.lab.reports.corpus_perplexity), a fingerprint of the first steps for a quick reproduction check, and
the commit that trained them.

    python benchmarks/lab_snapshot.py [--epochs 500] [--out bptt/results]

Torch runs on one thread so the training is the same on every machine of this kind (a reduction split
over threads rounds differently, and 4,000 SGD steps amplify it).
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from bptt import CharRNN, RunConfig, Trainer  # noqa: E402
from bptt.corpora import load_corpus  # noqa: E402
from bptt.lab import reports as gradlab  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bptt" / "results"
FIRST_STEPS = 16  # two epochs of the bundled corpus's 8 minibatches: the fingerprint's training


def config(epochs: int = 500) -> RunConfig:
    return RunConfig(corpus="bundled", max_tokens=10_000, epochs=epochs, device="cpu")


def corpus():
    return load_corpus("bundled", max_tokens=10_000)


def fingerprint(cfg: RunConfig | None = None) -> dict:
    """Where the training stands after its first FIRST_STEPS steps: cheap to recompute (tests do), and a
    change that would train other weights from the same seed changes it."""
    cfg = cfg or config()
    torch.set_num_threads(1)
    trainer = Trainer(cfg, corpus())
    while trainer.step_count < FIRST_STEPS and not trainer.done:
        trainer.step()
    W = trainer.model.W_hh.detach()
    return {"steps": trainer.step_count, "perplexity": trainer.perplexity(),
            "W_hh_fro": float(torch.linalg.matrix_norm(W)), "W_hh_sum": float(W.double().sum())}  # fmt: skip


def commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout

    try:
        head = git("rev-parse", "HEAD").strip()
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", "bptt").strip()  # tracked changes
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+modified" if dirty else "")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=500)
    p.add_argument("--out", type=Path, default=OUT, help="the folder to write into (default: %(default)s)")
    args = p.parse_args()
    torch.set_num_threads(1)
    cfg, text = config(args.epochs), corpus()
    trainer = Trainer(cfg, text)
    start = time.perf_counter()
    trainer.run()
    seconds = time.perf_counter() - start
    if trainer.status != "finished":
        sys.exit(f"training did not finish: {trainer.status} ({trainer.message})")
    weights = gradlab.half_weights(trainer.model)
    args.out.mkdir(parents=True, exist_ok=True)
    pt, meta_path = gradlab.trained_paths(args.out)
    torch.save(weights, pt)
    half = torch.load(pt, weights_only=True)  # what the lab will read
    model = CharRNN(len(text.vocab), cfg.num_hiddens)
    model.load_state_dict({n: t.float() for n, t in half.items()})
    meta = {
        "what": "the book's experiment (d2l §8.5) on the bundled corpus: float16 weights of the char-RNN",
        "settings": cfg.to_dict(),
        "corpus": text.name,
        "vocab_size": len(text.vocab),
        "tokens": len(text),
        "steps": trainer.step_count,
        "epochs": trainer.epoch,
        "train_perplexity": trainer.perplexity(),  # the last epoch's, as the book reports it
        "perplexity": gradlab.corpus_perplexity(model, text, cfg.batch_size, cfg.num_steps),
        "fingerprint": fingerprint(cfg),
        "train_seconds": round(seconds, 1),
        "bytes": pt.stat().st_size,
        "commit": commit(),
        "machine": {"platform": platform.platform(), "torch": torch.__version__, "torch_threads": 1},
    }
    meta_path.write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    shown = ("steps", "train_perplexity", "perplexity", "bytes", "train_seconds")
    print(json.dumps({k: meta[k] for k in shown}))


if __name__ == "__main__":
    main()
