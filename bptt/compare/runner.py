"""Comparing truncation strategies over seeds, with statistics (d2l §8.7.1.4's claims, made testable).

The book closes §8.7 with claims about full, regular and randomized truncation (d2l §8.7.1.4, Fig. 8.7.1)
from single runs. Here every strategy trains on the same data over several seeds: for a given seed, the
same initial weights, the same minibatch order (the Trainer seeds both from `seed`) and, for the
randomized strategies, xi_t drawn from the same generator. Per strategy the runs are summarised as a mean
with a band (min-max and +-1 sd) on a common grid, a table, and a verdict that says whether the
differences exceed the seed-to-seed spread (Welch's t-test).

`Comparison` is steppable: `advance(seconds)` trains the current run for a slice and returns, so a page
can run it live in short chunks with Pause/Stop; `run()` goes to the end for the CLI.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import os
import platform
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..config import ConfigError, RunConfig
from ..data import Corpus
from ..i18n import _, ngettext
from ..tasks.delayed_recall import DelayedRecall, recall_metrics
from ..training import Trainer
from ..truncation import Strategy

MAX_RUNS = 24  # strategies x seeds, bounded for a shared host
MAX_SECONDS_PER_RUN = 120.0
RESULTS_DIR = Path(__file__).parents[1] / "results"
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


@dataclass
class _Run:
    strategy: str
    seed: int
    trainer: Trainer
    points: list[dict[str, Any]] = field(default_factory=list)


class Comparison:
    """All runs of a Spec, trained one after another (seed-major, so a stopped comparison has every
    strategy on the first seeds); `advance()` trains for a slice of time, `run()` to the end."""

    def __init__(self, spec: Spec, corpus: Corpus | None = None) -> None:
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
        self.lock = threading.Lock()  # one advancing thread at a time (Streamlit reruns can overlap)
        self._generation = 0  # bumped by interrupt(): an advance in flight returns after its current step

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

    def advance(self, seconds: float) -> bool:
        """Train for about `seconds` (at least one step), starting the next run when one ends.
        Returns False once every run is done. A call while another thread is advancing does nothing."""
        if not self.lock.acquire(blocking=False):
            return not self.done
        try:
            return self._advance(seconds)
        finally:
            self.lock.release()

    def interrupt(self) -> None:
        """Ask an `advance` running in another thread to return after its current step (a click in the
        dashboard should not wait for a whole slice of training)."""
        self._generation += 1

    def _advance(self, seconds: float) -> bool:
        generation = self._generation
        if self.done:
            return False
        if self.current is None:
            strategy, seed = self.order[self.index]
            self.current = _Run(strategy, seed, self.trainer(strategy, seed))
            self.current.trainer.status = "running"
        run, t = self.current, self.current.trainer
        start = t.wall_time
        while not t.done and not self._budget_spent(t):
            epochs_before = len(t.history.epochs["epoch"])
            t.step()
            for p in t.history.epochs["perplexity"][epochs_before:]:
                self._point(run, p)
            if t.wall_time - start >= seconds or generation != self._generation:
                break
        if t.done or self._budget_spent(t):
            if self._budget_spent(t) and not t.done:  # the partial epoch's mean loss closes the curve
                tail = t.history.columns["loss"][-max(t._batch_in_epoch, 1) :]
                self._point(run, math.exp(min(float(np.mean(tail)), 709.0)))
            self.finished.append(run)
            self.current, self.index = None, self.index + 1
        return not self.done

    def run(self, callback=None) -> None:
        while self.advance(1.0):
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


# --------------------------------------------------------------------------------------------------
# Statistics


def aggregate(curves: pd.DataFrame, x: str, y: str, points: int = 100) -> pd.DataFrame:
    """Per strategy, every seed's y interpolated linearly onto a common grid of x (from the smallest
    first x to the largest last x of that strategy's runs; NaN outside a run's own range), then mean,
    sd (ddof 1), min, max and the number of runs n at each grid point."""
    out = []
    for strategy, group in curves.groupby("strategy", sort=False):
        runs = [g.sort_values(x) for _, g in group.groupby("seed", sort=True)]
        lo = min(float(r[x].iloc[0]) for r in runs)
        hi = max(float(r[x].iloc[-1]) for r in runs)
        grid = np.linspace(lo, hi, points)
        Ys = np.full((len(runs), points), np.nan)
        for i, r in enumerate(runs):
            xs, ys = r[x].to_numpy(float), r[y].to_numpy(float)
            inside = (grid >= xs[0]) & (grid <= xs[-1])
            Ys[i, inside] = np.interp(grid[inside], xs, ys)
        n = np.sum(np.isfinite(Ys), axis=0)
        with np.errstate(all="ignore"), _quiet():
            mean = np.nanmean(Ys, axis=0)
            sd = np.where(n >= 2, np.nanstd(Ys, axis=0, ddof=1), np.nan)
            lo_band, hi_band = np.nanmin(Ys, axis=0), np.nanmax(Ys, axis=0)
        out.append(pd.DataFrame({"strategy": strategy, x: grid, "mean": mean, "sd": sd, "min": lo_band,
                                 "max": hi_band, "n": n}))  # fmt: skip
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame()


class _quiet:
    """Silence numpy's 'Mean of empty slice' warnings (an all-NaN column is a normal end of a band)."""

    def __enter__(self):
        import warnings

        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        return self._w.__exit__(*exc)


def summary(runs: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per strategy (in the order given): n, final metric mean and sd over the runs that did not
    diverge, diverged count, mean tokens/s and mean fraction of clipped steps."""
    rows = []
    for strategy, g in runs.groupby("strategy", sort=False):
        ok = g[g["status"] != "diverged"][metric].to_numpy(float)
        rows.append({"strategy": strategy, "n": len(g), "mean": float(np.mean(ok)) if len(ok) else math.nan,
                     "sd": float(np.std(ok, ddof=1)) if len(ok) >= 2 else math.nan,
                     "diverged": int((g["status"] == "diverged").sum()),
                     "tokens_per_sec": float(g["tokens_per_sec"].mean()),
                     "clipped_fraction": float(g["clipped_fraction"].mean())})  # fmt: skip
    return pd.DataFrame(rows)


ALPHA = 0.05


def welch(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided p-value of Welch's t-test (unequal variances); NaN with fewer than 2 values a side,
    0 or 1 when both sides have no spread (then the means are either different or equal)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 2 or len(b) < 2:
        return math.nan
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    if va + vb == 0:
        return 0.0 if a.mean() != b.mean() else 1.0
    t = (a.mean() - b.mean()) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))  # Welch-Satterthwaite
    return student_t_sf2(abs(t), df)


def student_t_sf2(t: float, df: float) -> float:
    """P(|T| >= t) for Student's t with df degrees of freedom: I_{df/(df+t^2)}(df/2, 1/2)."""
    return _betainc(df / 2.0, 0.5, df / (df + t * t))


def _betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b), by its continued fraction (Numerical Recipes
    §6.4, modified Lentz), using the symmetry I_x(a, b) = 1 - I_{1-x}(b, a) where it converges faster."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    if x > (a + 1.0) / (a + b + 2.0):
        return 1.0 - _betainc(b, a, 1.0 - x)
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    tiny = 1e-300
    f, c, d = 1.0, 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    f = d
    for m in range(1, 300):
        for num in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                    -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):  # fmt: skip
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            f *= c * d
        if abs(c * d - 1.0) < 1e-15:
            break
    return math.exp(log_front) * f / a


def holm(p: dict) -> dict:
    """Holm's (1979) step-down adjustment of a family of p-values {key: p}: the i-th smallest becomes
    max_{j <= i} min(1, (m - j + 1) p_(j)); NaN values are left out of the family and stay NaN. Rejecting
    where the adjusted p < alpha keeps the chance of any false rejection in the family below alpha."""
    finite = sorted((v, k) for k, v in p.items() if not math.isnan(v))
    m, out, running = len(finite), {k: math.nan for k in p}, 0.0
    for i, (v, k) in enumerate(finite):
        running = max(running, min(1.0, (m - i) * v))
        out[k] = running
    return out


def pairwise_vs_best(ok: dict[str, np.ndarray], best: str) -> dict[str, float]:
    """Holm-adjusted Welch p-values of the best strategy against each other one. The best is picked after
    looking at the means, so the family is every pair of strategies (any pair could have been best and
    worst): Holm over all of them keeps the chance of any 'larger than the spread' among equal strategies
    below ALPHA, whichever is picked."""
    names = list(ok)
    pairs = {(a, b): welch(ok[a], ok[b]) for i, a in enumerate(names) for b in names[i + 1 :]}
    adjusted = holm(pairs)
    return {s: adjusted[(best, s) if (best, s) in adjusted else (s, best)] for s in names if s != best}


def verdict(runs: pd.DataFrame, metric: str, lower_is_better: bool = True) -> list[str]:
    """Plain sentences: which strategy did best on the final `metric`, and for each other one whether
    the difference exceeds the seed-to-seed spread by Welch's t-test at the 5% level, Holm-adjusted over
    every pair of strategies (the best is chosen after looking)."""
    if runs.empty:
        return [_("No run has finished yet.")]
    finals = dict(list(runs.groupby("strategy", sort=False)))
    ok = {s: g[g["status"] != "diverged"][metric].to_numpy(float) for s, g in finals.items()}
    sentences = []
    for s, g in finals.items():
        dv = int((g["status"] == "diverged").sum())
        if dv:
            said = _("{s} diverged in {k} of {n} seeds.")
            sentences.append(said.format(s=Strategy.title_of(s), k=dv, n=len(g)))
    ranked = [s for s in ok if len(ok[s])]
    if not ranked:
        return sentences + [_("Every run diverged: nothing to compare.")]
    sign = 1.0 if lower_is_better else -1.0
    best = min(ranked, key=lambda s: sign * ok[s].mean())
    sentences.append(
        _("Best mean final {metric}: {s} ({m:.3f}).").format(
            metric=metric_title(metric), s=Strategy.title_of(best), m=ok[best].mean()
        )
    )
    adjusted = pairwise_vs_best({s: ok[s] for s in ranked}, best)
    for s in ranked:
        if s == best:
            continue
        p = adjusted[s]
        diff = ok[s].mean() - ok[best].mean()
        if math.isnan(p):
            text = _("{s}: {diff:+.3f}; too few seeds for a test (at least 2 per strategy).")
        elif p < ALPHA:
            text = _(
                "{s}: {diff:+.3f}, larger than the seed-to-seed spread (Holm-adjusted p = {p:.3g} < 0.05)."
            )
        else:
            text = _("{s}: {diff:+.3f}, within the seed-to-seed spread (Holm-adjusted p = {p:.3g} ≥ 0.05).")
        sentences.append(text.format(s=Strategy.title_of(s), diff=diff, p=p))
    n = min(len(ok[s]) for s in ranked)
    sentences.append(
        _(
            "Rule: a difference counts when Welch's t-test between the best strategy and another, over the "
            "seeds' final values, gives p < 0.05 after Holm's adjustment over every pair of strategies (the "
            "best is picked after looking, so any pair could have been compared): among equal strategies "
            "some difference is called real at most 5% of the time."
        )
        + " "
        + ngettext(
            "With {n} seed per strategy the test only detects differences of several standard deviations; "
            "'within the spread' means not shown, not equal.",
            "With {n} seeds per strategy the test only detects differences of several standard deviations; "
            "'within the spread' means not shown, not equal.",
            n,
        ).format(n=n)
    )
    return sentences


# --------------------------------------------------------------------------------------------------
# Results files


def project_version() -> str:
    try:
        from importlib.metadata import version

        return version("bptt-lab")
    except Exception:
        pyproject = Path(__file__).parents[2] / "pyproject.toml"
        try:
            import tomllib

            return tomllib.loads(pyproject.read_text())["project"]["version"]
        except Exception:
            return "unknown"


def machine() -> dict[str, Any]:
    import torch

    return {"platform": platform.platform(), "python": platform.python_version(), "cores": os.cpu_count(),
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")}  # fmt: skip


def results(comparison: Comparison, corpus_name: str | None = None) -> dict[str, Any]:
    """Everything needed to redraw and judge the comparison, as JSON-ready data."""
    spec = comparison.spec
    runs = comparison.runs()
    return {
        "format": "bptt-lab comparison 1",
        "version": project_version(),
        "machine": machine(),
        "spec": spec.to_dict(),
        "corpus": corpus_name or comparison.corpus.name,
        "metric": spec.metric,
        "runs": _records(runs),
        "summary": _records(summary(runs, spec.metric)) if not runs.empty else [],
        "curves": _records(comparison.curves(max_points=100)),
    }


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    # JSON has no inf/NaN: write them as null (a diverged run is marked by its status).
    return [{k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in r.items()}
            for r in json.loads(df.to_json(orient="records"))]  # fmt: skip


def results_json(data: dict[str, Any]) -> str:
    """The results file's text (strict JSON: no NaN or Infinity)."""
    return json.dumps(data, allow_nan=False) + "\n"


def curves_csv(data: dict[str, Any]) -> str:
    """The curves of a results dict as CSV, the file written beside the JSON."""
    return pd.DataFrame(data["curves"]).to_csv(index=False)


def write_results(data: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(results_json(data), encoding="utf-8")
    path.with_suffix(".csv").write_text(curves_csv(data), encoding="utf-8")


SHIPPED = ("time_machine", "synthetic")


def load_shipped(name: str) -> dict[str, Any]:
    """A shipped comparison (bptt/results/NAME.json) with its tables as DataFrames: 'runs',
    'summary', 'curves' (a null final value of a diverged run read back as inf)."""
    if name not in SHIPPED:
        raise ValueError(f"unknown shipped comparison {name!r}; use one of {', '.join(SHIPPED)}")
    data = json.loads((RESULTS_DIR / f"{name}.json").read_text(encoding="utf-8"))
    for key in ("runs", "summary", "curves"):
        data[key] = pd.DataFrame(data[key])
    runs = data["runs"]
    if not runs.empty:
        metric = data["metric"]
        runs.loc[runs["status"] == "diverged", metric] = math.inf
    return data
