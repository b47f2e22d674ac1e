"""Comparing truncation strategies over seeds, with statistics (d2l §8.7.1.4's claims, made testable).

The book closes §8.7 with claims about full, regular and randomized truncation (d2l §8.7.1.4, Fig. 8.7.1)
from single runs. Here every strategy trains on the same data over several seeds: for a given seed, the
same initial weights, the same minibatch order (the Trainer seeds both from `seed`) and, for the
randomized strategies, xi_t drawn from the same generator. Per strategy the runs are summarised as a mean
with a band (min-max and +-1 sd) on a common grid, a table, and a verdict that says whether the
differences exceed the seed-to-seed spread (Welch's t-test).

`Comparison` is time-sliced work (bptt/slices.py): `run_for(seconds)` trains the current run for a slice
and returns, so a page can run it live in short chunks with Pause/Stop; `run()` goes to the end for the
CLI. The statistics are bptt/compare/stats.py, the results files bptt/compare/results.py.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..config import ConfigError, RunConfig
from ..data import Corpus
from ..i18n import _
from ..slices import TimeSliced
from ..tasks.delayed_recall import DelayedRecall, recall_metrics
from ..training import Trainer
from ..truncation import Strategy

MAX_RUNS = 24  # strategies x seeds, bounded for a shared host
MAX_SECONDS_PER_RUN = 120.0
EVAL_SEED = 1_000_003  # the synthetic task's held-out stream (never a training seed)


def metric_title(metric: str) -> str:
    """The compared column's name in the current language."""
    return {"recall_perplexity": _("recall perplexity"), "perplexity": _("perplexity")}.get(metric, metric)


@dataclass(frozen=True)
class Spec:
    """One comparison: the task, the shared settings, the strategies, the seeds and the budget.

    task: 'text' (the corpus handed in, e.g. The Time Machine) or 'synthetic' (DelayedRecall with d).
    budget: 'epochs' (every run trains base.epochs epochs) or 'seconds' (every run trains for the same
    training time: a slower strategy makes fewer updates, the trade-off d2l §8.7.1.4 names).
    """

    base: RunConfig
    strategies: tuple[str, ...] = ("full", "regular:5", "randomized:0.9")
    seeds: tuple[int, ...] = (0, 1, 2)
    task: str = "text"
    d: int = 10
    budget: str = "epochs"
    seconds: float = 20.0

    def __post_init__(self) -> None:
        if self.task not in ("text", "synthetic"):
            raise ConfigError(_("task must be text or synthetic (got {task!r})").format(task=self.task))
        if self.budget not in ("epochs", "seconds"):
            raise ConfigError(
                _("budget must be epochs or seconds (got {budget!r})").format(budget=self.budget)
            )
        # every strategy in its canonical key, once (ValueError names the grammar for a bad one)
        object.__setattr__(
            self, "strategies", tuple(dict.fromkeys(Strategy.parse(s).key for s in self.strategies))
        )
        if not self.strategies or not self.seeds:
            raise ConfigError(_("pick at least one strategy and one seed"))
        if len(set(self.strategies)) * len(set(self.seeds)) > MAX_RUNS:
            raise ConfigError(_("at most {max} runs (strategies × seeds) on this host").format(max=MAX_RUNS))
        if not (0 < self.seconds <= MAX_SECONDS_PER_RUN):
            raise ConfigError(_("seconds per run must be in (0, {max:g}]").format(max=MAX_SECONDS_PER_RUN))
        for s in self.strategies:
            self.config(s, self.seeds[0])  # raises ValueError/ConfigError for a bad one

    @property
    def metric(self) -> str:
        """The column the verdict compares: recall perplexity on the synthetic task, else perplexity."""
        return "recall_perplexity" if self.task == "synthetic" else "perplexity"

    def config(self, strategy: str, seed: int) -> RunConfig:
        return self.base.replace(seed=seed, **Strategy.parse(strategy).config_fields())

    def synthetic(self) -> DelayedRecall:
        return DelayedRecall(d=self.d, num_tokens=self.base.max_tokens)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["base"] = self.base.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Spec:
        data = dict(data)
        data["base"] = RunConfig(**data["base"])
        data["strategies"], data["seeds"] = tuple(data["strategies"]), tuple(data["seeds"])
        return cls(**data)


def three_strategies(cfg: RunConfig) -> Spec:
    """The book's three strategies (d2l §8.7.1.4, Fig. 8.7.1) at one run's settings: full, regular and
    randomized truncation, each trained with every other setting of `cfg` and its seed, so the three
    start from the same initial weights and see the same minibatches. Regular uses cfg's k when cfg is
    regular, else the default k (half the window when that k would not cut inside it, since regular
    with k >= num_steps is full); randomized uses cfg's schedule when cfg is randomized, else constant
    pi at the default pi."""
    default = RunConfig()
    chosen = Strategy.of_config(cfg)
    if cfg.truncation == "regular":
        regular = chosen
    else:
        k = default.k if default.k < cfg.num_steps else max(1, cfg.num_steps // 2)
        regular = Strategy("regular", k=k)
    randomized = chosen if cfg.truncation == "randomized" else Strategy("randomized", pi=default.pi)
    return Spec(base=cfg, strategies=("full", regular.key, randomized.key), seeds=(cfg.seed,))


@dataclass
class _Run:
    strategy: str
    seed: int
    trainer: Trainer
    points: list[dict[str, Any]] = field(default_factory=list)


class Comparison(TimeSliced):
    """All runs of a Spec, trained one after another (seed-major, so a stopped comparison has every
        strategy on the first seeds); a step is one minibatch of the current run, `run_for()` trains for a
    slice of time, `run()` to the end."""

    def __init__(self, spec: Spec, corpus: Corpus | None = None) -> None:
        super().__init__()
        self.spec = spec
        if spec.task == "synthetic":
            corpus = spec.synthetic().corpus(seed=0)
        if corpus is None:
            raise ValueError("a text comparison needs its corpus")
        self.corpus = corpus
        self.order = [(s, seed) for seed in spec.seeds for s in spec.strategies]
        self.index = 0
        self.finished: list[_Run] = []
        self.current: _Run | None = None

    def trainer(self, strategy: str, seed: int) -> Trainer:
        return Trainer(self.spec.config(strategy, seed), self.corpus)

    @property
    def done(self) -> bool:
        return self.index >= len(self.order)

    @property
    def progress(self) -> float:
        if self.done:
            return 1.0
        part = 0.0
        if self.current is not None:
            t = self.current.trainer
            part = t.wall_time / self.spec.seconds if self.spec.budget == "seconds" else t.progress
        return (self.index + min(part, 1.0)) / len(self.order)

    def _point(self, run: _Run, perplexity: float) -> None:
        t = run.trainer
        point = {"strategy": run.strategy, "seed": run.seed, "epoch": t.epoch, "step": t.step_count,
                 "tokens": t.tokens, "wall_time": t.wall_time, "perplexity": perplexity}  # fmt: skip
        if self.spec.task == "synthetic":
            point.update(recall_metrics(t.model, self.spec.synthetic(), EVAL_SEED))
        run.points.append(point)

    def _budget_spent(self, t: Trainer) -> bool:
        return self.spec.budget == "seconds" and t.wall_time >= self.spec.seconds

    def _step(self) -> dict[str, Any] | None:
        """One minibatch of the current run (starting the next run first when none is in progress), then
        its curve points; a run whose epochs or seconds are spent is closed. Returns the trainer's record,
        None when no minibatch was trained (the run diverged, or every run is done)."""
        if self.done:
            return None
        if self.current is None:
            strategy, seed = self.order[self.index]
            self.current = _Run(strategy, seed, self.trainer(strategy, seed))
            self.current.trainer.status = "running"
        run, t = self.current, self.current.trainer
        epochs_before = len(t.history.epochs["epoch"])
        record = t.step(wait=True)  # a page copying the trainer's history holds its lock a moment
        for p in t.history.epochs["perplexity"][epochs_before:]:
            self._point(run, p)
        if t.done or self._budget_spent(t):
            if self._budget_spent(t) and not t.done:  # the partial epoch's mean loss closes the curve
                self._point(run, t.epoch_so_far_perplexity())
            self.finished.append(run)
            self.current, self.index = None, self.index + 1
        return record

    def run(self, callback=None) -> None:
        """Train every run to its end; `callback(comparison)` after each slice of about a second."""
        while not self.done:
            self.run_for(1.0)
            if callback is not None:
                callback(self)

    # -- results -------------------------------------------------------------------------------------
    def curves(self, max_points: int | None = None, with_current: bool = False) -> pd.DataFrame:
        """One row per curve point: strategy, seed, epoch, step, tokens, wall_time, perplexity (and
        recall_perplexity, recall_accuracy on the synthetic task). max_points: at most that many
        evenly spaced points per run, the last one always kept (for a small results file).
        with_current: also the points so far of the run in progress (call it from the thread that
        advances, or between advances)."""
        rows = []
        running = [self.current] if with_current and self.current is not None else []
        for r in [*self.finished, *running]:
            pts = r.points
            if max_points is not None and len(pts) > max_points:
                keep = np.unique(np.linspace(0, len(pts) - 1, max_points).round().astype(int))
                pts = [pts[i] for i in keep]
            rows.extend(pts)
        return pd.DataFrame(rows)

    def runs(self) -> pd.DataFrame:
        """One row per finished run: its final metric, speed, divergence and clipping."""
        rows = []
        for r in self.finished:
            t = r.trainer
            clipped = t.history.columns["clipped"]
            last = r.points[-1] if r.points else {}
            row = {"strategy": r.strategy, "seed": r.seed, "status": t.status, "steps": t.step_count,
                   "tokens": t.tokens, "wall_time": t.wall_time,
                   "tokens_per_sec": t.tokens / t.wall_time if t.wall_time else 0.0,
                   "clipped_fraction": float(np.mean(clipped)) if clipped else 0.0,
                   "perplexity": last.get("perplexity", math.nan)}  # fmt: skip
            if t.status == "diverged":
                row["perplexity"] = math.inf
            if self.spec.task == "synthetic":
                for k in ("recall_perplexity", "recall_accuracy"):
                    row[k] = last.get(k, math.nan)
                if t.status == "diverged":
                    row["recall_perplexity"] = math.inf
            rows.append(row)
        return pd.DataFrame(rows)
