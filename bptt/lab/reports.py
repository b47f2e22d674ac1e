"""The gradient lab's analyses for one set of weights on one real minibatch (d2l §8.7), as plain tables.

Any CharRNN works (the seeded initialisation, or a trained run's weights); the results are numpy/pandas,
so a notebook, the CLI (`python -m bptt gradlab`) and the dashboard read them the same way.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Generator
from dataclasses import dataclass
from importlib import resources

import numpy as np
import pandas as pd
import torch

from ..data import seq_data_iter_random
from ..history import perplexity
from ..model import CharRNN
from ..slices import TimeSliced, drain, mapped
from ..truncation import Strategy
from . import estimators, lags, moments

MAX_NUM_STEPS, MAX_NUM_HIDDENS, MAX_BATCH = 100, 512, 128
KEPT_DRAWS = 500  # gate draws for the kept share's mean and spread when a window is too big for exact moments
# Multiply-adds of the draws' backward passes: draws x num_steps x batch x num_hiddens^2 summed over the
# strategies. 3e11 is two strategies of 2,000 draws at the book's size (T=35, B=32, H=256).
MAX_DRAW_WORK = 3e11


def check_draw_budget(num_strategies: int, draws: int, num_steps: int, batch: int, num_hiddens: int) -> None:
    """Refuse a request for draws that would hold a shared host's cores for minutes."""
    work = num_strategies * draws * num_steps * batch * num_hiddens**2
    if work > MAX_DRAW_WORK:
        raise ValueError(
            f"{num_strategies} strategies x {draws:,} draws at num_steps={num_steps}, batch={batch}, "
            f"num_hiddens={num_hiddens} is {work / MAX_DRAW_WORK:.1f} times what this host allows; "
            "use fewer draws or strategies, or a smaller model"
        )


def minibatch(corpus, batch_size: int, num_steps: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first minibatch of the book's random sampler (d2l §8.3.1) with this seed: X, Y (B, T)."""
    rng = np.random.default_rng(seed)
    try:
        return next(seq_data_iter_random(corpus.corpus, batch_size, num_steps, rng))
    except StopIteration:
        raise ValueError(
            f"the corpus ({len(corpus):,} tokens) is too short for one minibatch of "
            f"{batch_size} x {num_steps}"
        ) from None


def init_model(vocab_size: int, num_hiddens: int, seed: int) -> CharRNN:
    """The book's initialisation N(0, 0.01^2), seeded."""
    return CharRNN(vocab_size, num_hiddens, generator=torch.Generator().manual_seed(seed))


# -- the shipped trained weights -------------------------------------------------------------------------
# The book's experiment (d2l §8.5: H=256, num_steps=35, batch 32, SGD lr 1, clipping at 1, 500 epochs,
# sequential partitioning) trained on the bundled corpus's first 10,000 tokens by
# benchmarks/lab_snapshot.py: float16 weights in a plain tensor dict (loaded with weights_only=True)
# and their metadata beside them, so that the lab opens on the long-lag gradient that training builds.
TRAINED = "lab_trained"


def trained_paths(folder=None):
    """The snapshot's weights (.pt) and metadata (.json): in the package's results folder by default."""
    base = resources.files("bptt") / "results" if folder is None else folder
    return base / f"{TRAINED}.pt", base / f"{TRAINED}.json"


def trained_meta(folder=None) -> dict:
    return json.loads(trained_paths(folder)[1].read_text(encoding="utf-8"))


def trained_model(folder=None) -> CharRNN:
    """The shipped trained char-RNN, float32 from its float16 copy. Only plain tensors are read
    (`weights_only=True`), and their names and shapes must be those its metadata declares."""
    meta = trained_meta(folder)
    V, H = int(meta["vocab_size"]), int(meta["settings"]["num_hiddens"])
    with trained_paths(folder)[0].open("rb") as f:
        saved = torch.load(f, weights_only=True, map_location="cpu")
    model = CharRNN(V, H)
    shapes = {n: tuple(p.shape) for n, p in model.named_parameters()}
    if (not isinstance(saved, dict) or not all(isinstance(t, torch.Tensor) for t in saved.values())
            or {n: tuple(t.shape) for n, t in saved.items()} != shapes):  # fmt: skip
        raise ValueError("the trained snapshot does not hold the char-RNN its metadata describes")
    model.load_state_dict({n: t.to(torch.float32) for n, t in saved.items()})
    return model


def half_weights(model: CharRNN) -> dict[str, torch.Tensor]:
    """The model's parameters as float16 CPU tensors, the form the snapshot is shipped in."""
    return {n: p.detach().to("cpu", torch.float16).clone() for n, p in model.named_parameters()}


@torch.no_grad()
def corpus_perplexity(model: CharRNN, corpus, batch_size: int, num_steps: int) -> float:
    """exp(mean cross-entropy) of next-token prediction over the corpus (d2l §8.4.4), read as one
    epoch of sequential partitioning from offset 0 (d2l §8.3.2) with the state carried between
    minibatches, the way the book trains and reports it, but with no update."""
    data = torch.as_tensor(corpus.corpus, dtype=torch.int64)
    n = (len(data) - 1) // batch_size * batch_size
    Xs, Ys = data[:n].reshape(batch_size, -1), data[1 : n + 1].reshape(batch_size, -1)
    state, total, count = None, 0.0, 0
    for i in range(0, num_steps * (Xs.shape[1] // num_steps), num_steps):
        X, Y = Xs[:, i : i + num_steps], Ys[:, i : i + num_steps]
        logits, state = model(X, state)
        total += float(torch.nn.functional.cross_entropy(logits, Y.T.reshape(-1), reduction="sum"))
        count += Y.numel()
    return perplexity(total / count) if count else math.nan


ARTBP_ALPHA = 3.0  # the lab's ARTBP sweeps T0 at the alpha of Tallec & Ollivier 2017


def lab_strategies(k: int, pis=(), t0s=()) -> tuple[Strategy, ...]:
    """The lab's strategies: regular k, randomized with each constant pi, ARTBP (alpha = 3) with each T0."""
    return (
        Strategy("regular", k=int(k)),
        *(Strategy("randomized", pi=float(p)) for p in pis),
        *(Strategy("artbp", alpha=ARTBP_ALPHA, t0=float(t)) for t in t0s),
    )


@dataclass
class LagReport:
    """Per lag: share and norm ratio of the full gradient, and what each strategy keeps."""

    table: pd.DataFrame  # lag, share, norm_ratio, tail_norm, kept_<key>, kept_<key>_std (Strategy.key)
    travel: pd.DataFrame
    eigenvalues: np.ndarray
    sigma_max: float
    gamma: float
    loss: float
    # Per strategy asked for: its exact bias, variance and MSE (moments.Exact), or None when the window is
    # over the exact moments' work bound (then the randomized kept shares are sampled, `kept_draws` draws).
    exact: pd.DataFrame | None = None
    kept_draws: int = 0  # 0: the kept shares' mean and sd are exact

    def share_beyond(self, k: int) -> float:
        """⟨sum_{j>k} g_j, g⟩ / ‖g‖²: the projection share of lags > k (signed)."""
        return float(self.table.loc[self.table["lag"] > k, "share"].sum())

    def norm_beyond(self, k: int) -> float:
        """‖sum_{j>k} g_j‖ / ‖g‖: the size of the tail beyond lag k."""
        rows = self.table.loc[self.table["lag"] == k, "tail_norm"]
        return float(rows.iloc[0]) if len(rows) else 0.0


def exact_row(strategy: Strategy, ex: moments.Exact) -> dict:
    """One row of the exact table: relative bias, variance, MSE and, for a random estimator, the probability
    below which the path pairs carrying half its variance are kept, with the draws that takes (1 / it)."""
    seen = None if ex.rare is None else 1.0 / ex.rare
    return {"kind": strategy.kind, "value": strategy.value, "strategy": strategy.key, "bias": ex.bias,
            "variance": ex.variance, "mse": ex.mse, "rare": ex.rare, "draws_to_see": seen}  # fmt: skip


def lag_report(
    model, X, Y, strategies: tuple[Strategy, ...] = (), *, draws: int = KEPT_DRAWS, seed: int = 0
) -> LagReport:
    """The lag decomposition (float64), the tail norms, the travel curve and W_hh's eigenvalues; for each
    strategy its exact moments (bptt/lab/moments.py) and its kept share per lag (regular: exactly; a
    randomized one: exact mean and sd). A window over the exact moments' work bound gets the randomized
    kept shares' mean and sd from `draws` draws of the gates instead, and no exact table."""
    win = lags.forward_window(model, X, Y)
    dec = lags.lag_decomposition(win)
    table = dec.table()
    table["tail_norm"] = dec.tail_norms()
    T, B, H = win.shape
    exact_ok = moments.exact_work(T, B, H) <= moments.MAX_EXACT_WORK
    mom = moments.Moments(win, dec.proj) if exact_ok else None
    rows = []
    gen = torch.Generator().manual_seed(seed)
    for s in strategies:
        gates, col = s.gates(T), f"kept_{s.key}"
        if s.kind == "regular":
            table[col] = lags.kept_by_regular(dec, s.k)
            if mom is not None:
                rows.append(exact_row(s, mom.of(gates)))
        elif mom is not None:
            ex = mom.of(gates)
            table[col], table[col + "_std"] = ex.kept_mean, ex.kept_sd
            rows.append(exact_row(s, ex))
        else:
            kept = lags.kept_by_draws(dec, estimators.draw_gates(gates, draws, B, T, gen))
            table[col], table[col + "_std"] = kept.mean(0), kept.std(0, ddof=1)
    tr = lags.travel(win)
    sigma, gamma = float(tr["sigma_max"].iloc[0]), float(tr["gamma"].iloc[0])
    exact = pd.DataFrame(rows) if mom is not None else None
    return LagReport(table, tr, lags.eigenvalues(win), sigma, gamma, win.loss, exact, 0 if mom else draws)


SHORT_BY = 3.0  # standard errors: a sample this far below the exact value has missed part of the variance


def sampled_vs_exact(stats: pd.DataFrame, exact: pd.DataFrame) -> pd.DataFrame:
    """Per drawn randomized strategy: the sample's E‖ĝ - g‖² / ‖g‖² with its standard error beside the
    exact value; `short` when the exact value exceeds the sample's by more than SHORT_BY standard errors
    (the draws have not yet met the rare long paths that carry the variance), with the draws that takes."""
    drawn = stats[stats["kind"] != "regular"][["strategy", "draws", "mse", "mse_se"]]
    both = drawn.merge(exact[["strategy", "mse", "draws_to_see"]], on="strategy", suffixes=("", "_exact"))
    both = both.rename(columns={"mse": "sampled_mse", "mse_exact": "exact_mse"})
    both["short"] = both["exact_mse"] - both["sampled_mse"] > SHORT_BY * both["mse_se"]
    return both[["strategy", "draws", "sampled_mse", "mse_se", "exact_mse", "short", "draws_to_see"]]


def estimator_report(
    model, X, Y, strategies: tuple[Strategy, ...], draws: int, *, seed: int = 0,
    dtype=torch.float32, progress: Callable[[float], None] | None = None, with_sweep: bool = True,
) -> tuple[pd.DataFrame, dict[str, np.ndarray], pd.DataFrame | None]:  # fmt: skip
    """For each strategy, `draws` draws (one for a deterministic one) against the exact full gradient g
    (computed in float64); the draws themselves in `dtype` (float32 by default: 4x faster, relative error
    ~1e-7, far below any Monte Carlo error here). Returns (stats table, {key: cos per draw}, regular sweep
    k=1..T)."""
    return drain(
        report_steps(model, X, Y, strategies, draws, seed=seed, dtype=dtype, with_sweep=with_sweep), progress
    )


def report_steps(
    model, X, Y, strategies: tuple[Strategy, ...], draws: int, *, seed: int = 0,
    dtype=torch.float32, with_sweep: bool = True,
) -> Generator[float, None, tuple[pd.DataFrame, dict[str, np.ndarray], pd.DataFrame | None]]:  # fmt: skip
    """estimator_report as resumable work: a generator that yields the fraction done after the forward pass
    and after each chunk of draws, and returns what estimator_report returns (the same numbers: one
    generator of gates, drawn in the same order). The draw budget is checked at once, by this call."""
    B, T = X.shape
    check_draw_budget(sum(s.random for s in strategies), draws, T, B, model.num_hiddens)
    return _report_steps(model, X, Y, strategies, draws, seed, dtype, with_sweep)


def _report_steps(model, X, Y, strategies, draws, seed, dtype, with_sweep):
    win64 = lags.forward_window(model, X, Y)
    g64 = estimators.full_gradient(win64)
    sweep = estimators.regular_sweep(win64, g=g64) if with_sweep else None
    win = win64 if dtype == torch.float64 else lags.forward_window(model, X, Y, dtype=dtype)
    g = g64.to(dtype)
    yield 0.0
    rows, cos = [], {}
    gen = torch.Generator().manual_seed(seed)
    T = X.shape[1]
    for i, s in enumerate(strategies):
        n = draws if s.random else 1
        steps = estimators.stats_steps(win, s.gates(T), n, label=s.key, generator=gen, g=g)
        st = yield from mapped(steps, lambda p, i=i: (i + p[0] / p[1]) / len(strategies))
        rows.append({"kind": s.kind, "value": s.value, **st.row()})
        cos[s.key] = st.cos
    return pd.DataFrame(rows), cos, sweep


class EstimatorDraws(TimeSliced):
    """The estimators over draws (report_steps) as a job for the training workers (bptt/hosting/workers.py),
    so that a page never draws inside its own script run: each step runs the forward pass or one chunk of
    draws; `fraction` says how far it is, `result` holds (stats, cos) once done and `error` what it
    raised. `stopped` (written by the page) or an error finishes it early. The draw budget is checked
    when it is made (ValueError)."""

    def __init__(self, model, X, Y, strategies: tuple[Strategy, ...], draws: int, *, seed: int = 0):
        super().__init__()
        self._steps = report_steps(model, X, Y, strategies, draws, seed=seed, with_sweep=False)
        self.fraction = 0.0
        self.result: tuple[pd.DataFrame, dict[str, np.ndarray]] | None = None
        self.error: BaseException | None = None
        self.stopped = False
        self.advances = 0  # steps run: the forward pass, each chunk, the end (for tests)

    @property
    def finished(self) -> bool:
        return self.stopped or self.result is not None or self.error is not None

    @property
    def done(self) -> bool:
        return self.finished

    def _step(self) -> float:
        self.advances += 1
        try:
            self.fraction = next(self._steps)
        except StopIteration as stop:
            stats, cos, _sweep = stop.value
            self.result, self.fraction = (stats, cos), 1.0
        except Exception as e:
            self.error = e
            raise
        return self.fraction

    def advance(self, seconds: float = 0.0) -> None:
        """Draw for about `seconds` (at least one chunk) unless finished."""
        self.run_for(seconds, wait=True)


def regular_sweep(model, X, Y) -> pd.DataFrame:
    """Exact bias (= relative error, variance 0) of regular k = 1..num_steps, for choosing k."""
    return estimators.regular_sweep(lags.forward_window(model, X, Y))
