"""The Compare chart draws what its title says: per strategy the mean of the seeds and a band that is
either their min-max or mean +- 1 sd (numpy on a known input), under 2,000 points in all."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bptt.charts.compare import comparison_chart


def curves() -> pd.DataFrame:
    rows = []
    for strategy, shift in (("full", 0.0), ("regular:5", 10.0)):
        for seed, ys in enumerate(([1.0, 3.0], [3.0, 5.0], [2.0, 7.0])):
            for x, y in zip((0.0, 10.0), ys, strict=True):
                rows.append({"strategy": strategy, "seed": seed, "tokens": x, "perplexity": y + shift})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("band", ["minmax", "sd"])
def test_mean_and_band_are_numpys(band):
    fig = comparison_chart(curves(), "perplexity", "tokens", band)
    upper, lower, mean = fig.data[0], fig.data[1], fig.data[2]
    ys = np.array([[1.0, 3.0], [3.0, 5.0], [2.0, 7.0]])
    grid = np.asarray(mean.x)
    at = lambda a: np.interp(grid, [0.0, 10.0], a)  # noqa: E731 - the chart interpolates linearly
    per_x = np.array([at(y) for y in ys])  # each seed on the grid, then the statistics across seeds
    np.testing.assert_allclose(mean.y, per_x.mean(axis=0))
    if band == "minmax":
        np.testing.assert_allclose(upper.y, per_x.max(axis=0))
        np.testing.assert_allclose(lower.y, per_x.min(axis=0))
    else:
        sd = per_x.std(axis=0, ddof=1)
        np.testing.assert_allclose(upper.y, per_x.mean(axis=0) + sd)
        np.testing.assert_allclose(lower.y, per_x.mean(axis=0) - sd)
    assert mean.name == "full within each window (n=3)" and fig.data[5].name == "regular (k=5) (n=3)"
    assert lower.fill == "tonexty" and "Mean of 3 seeds" in fig.layout.title.text
    assert all(t.type == "scatter" for t in fig.data)
    assert sum(len(t.x) for t in fig.data) <= 2000


def test_many_strategies_stay_under_2000_points():
    df = pd.concat([curves().assign(strategy=f"s{i}") for i in range(12)])
    df = df.assign(strategy=np.repeat([f"s{i}" for i in range(12)], len(curves())))
    fig = comparison_chart(df)
    assert sum(len(t.x) for t in fig.data) <= 2000


def test_no_data_draws_a_placeholder():
    fig = comparison_chart(pd.DataFrame())
    assert not fig.data and fig.layout.annotations[0].text
