"""The gradient lab's analyses for one set of weights on one real minibatch (d2l §8.7), as plain tables.

Any CharRNN works (the seeded initialisation, or a trained run's weights); the results are numpy/pandas,
so a notebook, the CLI (`python -m bptt gradlab`) and the dashboard read them the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from . import estimators, lags
from .data import seq_data_iter_random
from .model import CharRNN
from .truncation import ARTBPPi, ConstantPi, Randomized, Regular

MAX_NUM_STEPS, MAX_NUM_HIDDENS, MAX_BATCH = 100, 512, 128
KEPT_DRAWS = 500  # gate draws for the mean and spread of what a randomized strategy keeps of each lag
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


def strategy_for(kind: str, value: float):
    """'regular' with k, 'randomized' with a constant pi, 'artbp' with T0 (alpha = 3)."""
    if kind == "regular":
        return Regular(int(value))
    if kind == "randomized":
        return Randomized(ConstantPi(float(value)))
    if kind == "artbp":
        return Randomized(ARTBPPi(3.0, float(value)))
    raise ValueError(f"unknown strategy {kind!r}; use 'regular', 'randomized' or 'artbp'")


@dataclass
class LagReport:
    """Per lag: share and norm ratio of the full gradient, and what each strategy keeps."""

    table: pd.DataFrame  # lag, share, norm_ratio, kept_<label>, kept_<label>_std
    travel: pd.DataFrame
    eigenvalues: np.ndarray
    sigma_max: float
    gamma: float
    loss: float

    def share_beyond(self, k: int) -> float:
        return float(self.table.loc[self.table["lag"] > k, "share"].sum())


def lag_report(
    model, X, Y, *, regular_k: tuple[int, ...] = (), randomized: tuple[tuple[str, float], ...] = (),
    draws: int = KEPT_DRAWS, seed: int = 0,
) -> LagReport:  # fmt: skip
    """The lag decomposition (float64), the travel curve and W_hh's eigenvalues; for each regular k its
    exact kept share per lag, for each randomized strategy the mean and spread of its kept share over
    `draws` draws of the gates (cheap: scalars per path group, no backward pass per draw)."""
    win = lags.forward_window(model, X, Y)
    dec = lags.lag_decomposition(win)
    table = dec.table()
    for k in regular_k:
        table[f"kept_regular k={k}"] = lags.kept_by_regular(dec, int(k))
    T, B, _ = win.shape
    gen = torch.Generator().manual_seed(seed)
    for kind, value in randomized:
        s = strategy_for(kind, value)
        kept = lags.kept_by_draws(dec, estimators.draw_gates(s, draws, B, T, gen))
        label = estimators.describe(s)
        table[f"kept_{label}"] = kept.mean(0)
        table[f"kept_{label}_std"] = kept.std(0, ddof=1)
    tr = lags.travel(win)
    return LagReport(
        table, tr, lags.eigenvalues(win), float(tr["sigma_max"].iloc[0]), float(tr["gamma"].iloc[0]), win.loss
    )


def estimator_report(
    model, X, Y, strategies: list[tuple[str, float]], draws: int, *, seed: int = 0,
    dtype=torch.float32, progress: Callable[[float], None] | None = None, with_sweep: bool = True,
) -> tuple[pd.DataFrame, dict[str, np.ndarray], pd.DataFrame | None]:  # fmt: skip
    """For each (kind, value) strategy, `draws` draws against the exact full gradient g (computed in
    float64); the draws themselves in `dtype` (float32 by default: 4x faster, relative error ~1e-7, far
    below any Monte Carlo error here). Returns (stats table, {label: cos per draw}, regular sweep k=1..T)."""
    B, T = X.shape
    check_draw_budget(sum(k != "regular" for k, _ in strategies), draws, T, B, model.num_hiddens)
    win64 = lags.forward_window(model, X, Y)
    g64 = estimators.full_gradient(win64)
    sweep = estimators.regular_sweep(win64, g=g64) if with_sweep else None
    win = win64 if dtype == torch.float64 else lags.forward_window(model, X, Y, dtype=dtype)
    g = g64.to(dtype)
    rows, cos = [], {}
    gen = torch.Generator().manual_seed(seed)
    for i, (kind, value) in enumerate(strategies):
        s = strategy_for(kind, value)
        n = 1 if kind == "regular" else draws

        def step(done, total, i=i):
            if progress:
                progress((i + done / total) / len(strategies))

        st = estimators.estimator_stats(win, s, n, generator=gen, g=g, progress=step)
        rows.append({"kind": kind, "value": value, **st.row()})
        cos[st.label] = st.cos
    return pd.DataFrame(rows), cos, sweep


def regular_sweep(model, X, Y) -> pd.DataFrame:
    """Exact bias (= relative error, variance 0) of regular k = 1..num_steps, for choosing k."""
    return estimators.regular_sweep(lags.forward_window(model, X, Y))
