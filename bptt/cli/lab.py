"""`python -m bptt gradlab`: the gradient lab's numbers (d2l §8.7) for the book's char-RNN at its
seeded initialisation, as one JSON object on stdout: lag shares and tail norms of the full-window
gradient, travel, each estimator's exact moments, and the estimators over draws."""

from __future__ import annotations

import argparse
import json
import sys

from ..corpora import load_corpus
from ..data import CorpusError
from ..i18n import _
from ..lab import reports as gradlab
from ..lab.estimators import MAX_DRAWS, choose_k


def add_gradlab_parser(sub) -> None:
    p = sub.add_parser("gradlab", help=_("the gradient lab: lags, travel, estimators over draws (d2l §8.7)"))
    p.add_argument("--corpus", default="bundled", help=_("time_machine or bundled"))
    p.add_argument("--max-tokens", type=int, default=10_000)
    p.add_argument("--num-steps", type=int, default=35)
    p.add_argument("--num-hiddens", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--draws",
        type=int,
        default=200,
        help=_("draws per randomized strategy (<= {max})").format(max=MAX_DRAWS),
    )
    p.add_argument("--eps", type=float, default=0.05, help=_("tolerance for choosing k"))
    p.add_argument(
        "--strategy", action="append", default=None,
        help=_("kind:value, e.g. regular:10, randomized:0.9, artbp:50 (repeatable)"),
    )  # fmt: skip


def gradlab_command(args: argparse.Namespace) -> int:
    try:
        if not (1 <= args.draws <= MAX_DRAWS):
            raise ValueError(_("--draws must be between 1 and {max}").format(max=MAX_DRAWS))
        corpus = load_corpus(args.corpus, max_tokens=args.max_tokens)
        X, Y = gradlab.minibatch(corpus, args.batch_size, args.num_steps, args.seed)
        model = gradlab.init_model(len(corpus.vocab), args.num_hiddens, args.seed)
        specs = [s.split(":") for s in (args.strategy or ["regular:10", "randomized:0.9", "artbp:50"])]
        strategies = [(kind, float(value)) for kind, value in specs]
    except (ValueError, CorpusError, OSError, RuntimeError) as e:
        print(_("error: {error}").format(error=e), file=sys.stderr)
        return 2
    rep = gradlab.lag_report(
        model, X, Y,
        regular_k=tuple(int(v) for k, v in strategies if k == "regular"),
        randomized=tuple((k, v) for k, v in strategies if k != "regular"),
        seed=args.seed,
    )  # fmt: skip
    stats, _draws, sweep = gradlab.estimator_report(model, X, Y, strategies, args.draws, seed=args.seed)
    result = {
        "corpus": corpus.name,
        "loss": rep.loss,
        "sigma_max_W_hh": rep.sigma_max,
        "max_abs_eigenvalue_W_hh": float(abs(rep.eigenvalues).max()),
        "share_beyond_lag_10": rep.share_beyond(10),
        "share_beyond_lag_20": rep.share_beyond(20),
        "tail_norm_beyond_lag_10": rep.norm_beyond(10),
        "tail_norm_beyond_lag_20": rep.norm_beyond(20),
        "lags": rep.table.to_dict(orient="list"),
        "travel_log10_mean": rep.travel["log10_mean"].tolist(),
        "estimators": stats.to_dict(orient="records"),
        # exact bias, variance and MSE (bptt/lab/moments.py); null for a window over the exact work bound
        "exact": None if rep.exact is None else json.loads(rep.exact.to_json(orient="records")),
        "regular_sweep": sweep.to_dict(orient="records"),
        "chosen_k": choose_k(sweep, args.eps),
        "eps": args.eps,
    }
    print(json.dumps(result))
    return 0
