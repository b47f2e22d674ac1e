"""Statistics of a comparison over seeds: curves on a common grid, summaries, Welch's t-test with a
hand-written regularized incomplete beta (no scipy), Holm's adjustment, and the verdict in words."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..i18n import _, ngettext
from ..truncation import Strategy
from .runner import metric_title


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
