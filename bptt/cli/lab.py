"""`python -m bptt gradlab`: the gradient lab's numbers (d2l §8.7) for the book's char-RNN at its
seeded initialisation, as one JSON object on stdout: lag shares and tail norms of the full-window
gradient, travel, each estimator's exact moments, and the estimators over draws."""

from __future__ import annotations

import argparse
import json
import sys

from ..config import RunConfig
from ..corpora import load_corpus
from ..data import CorpusError
from ..i18n import _
from ..lab import reports as gradlab
from ..lab.estimators import MAX_DRAWS, choose_k
from ..truncation import GRAMMAR, Strategy
from .flags import add_setting_flags, setting_values

DEFAULT_STRATEGIES = ("regular:10", "randomized:0.9", "artbp:3:50")


def add_gradlab_parser(sub) -> None:
    p = sub.add_parser("gradlab", help=_("the gradient lab: lags, travel, estimators over draws (d2l §8.7)"))
    add_setting_flags(p, "gradlab", RunConfig(corpus="bundled"), _("time_machine or bundled"))
    p.add_argument(
        "--draws",
        type=int,
        default=200,
        help=_("draws per randomized strategy (<= {max})").format(max=MAX_DRAWS),
    )
    p.add_argument("--eps", type=float, default=0.05, help=_("tolerance for choosing k"))
    p.add_argument(
        "--strategy", action="append", default=None,
        help=_("a strategy ({grammar}); repeatable").format(grammar=GRAMMAR),
    )  # fmt: skip


def gradlab_command(args: argparse.Namespace) -> int:
    try:
        if not (1 <= args.draws <= MAX_DRAWS):
            raise ValueError(_("--draws must be between 1 and {max}").format(max=MAX_DRAWS))
        # the settings' bounds, as for a run (the lab trains nothing: epochs play no part)
        cfg = RunConfig(corpus=args.corpus, epochs=1, **setting_values(args, "gradlab"))
        corpus = load_corpus(cfg.corpus, max_tokens=cfg.max_tokens)
        X, Y = gradlab.minibatch(corpus, cfg.batch_size, cfg.num_steps, cfg.seed)
        model = gradlab.init_model(len(corpus.vocab), cfg.num_hiddens, cfg.seed)
        strategies = tuple(Strategy.parse(s) for s in (args.strategy or DEFAULT_STRATEGIES))
        if any(s.kind == "stream" for s in strategies):  # the lab's gradients are of one window
            raise ValueError(_("gradlab analyses one window; 'stream' spans many windows (train it instead)"))
    except (ValueError, CorpusError, OSError, RuntimeError) as e:
        print(_("error: {error}").format(error=e), file=sys.stderr)
        return 2
    rep = gradlab.lag_report(model, X, Y, strategies, seed=args.seed)
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
