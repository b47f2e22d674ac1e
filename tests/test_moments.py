"""Exact moments of the estimators (bptt/lab/moments.py) against independent references.

References: brute-force enumeration of every gate pattern of a tiny window (each keep/cut sequence with its
probability, the gates as `Randomized.gates` defines them, each pattern's gradient by the batched BPTT
recursion), the closed form pi^-|p ∩ q| for constant pi, regular truncation's exact sweep, and sample
moments over many draws with their standard errors where sampling converges (pi >= 0.8).
"""

import itertools

import numpy as np
import pandas as pd
import pytest
import torch
from test_truncation import H, V, make_model

from bptt.lab import estimators, lags, moments
from bptt.truncation import ARTBPPi, ConstantPi, LinearPi, Randomized, Regular


def tiny_window(T, B, seed=3):
    g = torch.Generator().manual_seed(seed)
    X = torch.randint(0, V, (B, T), generator=g)
    Y = torch.randint(0, V, (B, T), generator=g)
    state = torch.randn(B, H, generator=g, dtype=torch.float64) * 0.5
    return lags.forward_window(make_model(), X, Y, state)


def row_patterns(table, T):
    """Every gate sequence of one row with its probability: xi_0 = 0, then keep (xi_u = 1/pi) or cut."""
    out = []
    for keep in itertools.product([False, True], repeat=T - 1):
        xi, prob, lag = np.zeros(T), 1.0, 1
        for u in range(1, T):
            p = table[u, lag]
            if keep[u - 1]:
                xi[u], prob, lag = 1.0 / p, prob * p, lag + 1
            else:
                prob, lag = prob * (1.0 - p), 1
        out.append((xi, prob))
    return out


def enumerate_gates(strategy, T, B):
    """All (T, B) gate matrices of B independent rows, (n, T, B), with their probabilities (n,)."""
    rows = row_patterns(moments.pi_table(strategy.schedule, T), T)
    xis, probs = [], []
    for combo in itertools.product(rows, repeat=B):
        xis.append(np.stack([xi for xi, _p in combo], axis=1))
        probs.append(np.prod([p for _xi, p in combo]))
    return torch.tensor(np.array(xis)), torch.tensor(probs)


def split(vec, win):
    """The flat recurrent gradient (W_xh, W_hh, b_h) as {name: part}."""
    T, B, H_ = win.shape
    sizes = {"W_xh": win.P["W_xh"].numel(), "W_hh": H_ * H_, "b_h": H_}
    out, i = {}, 0
    for name, n in sizes.items():
        out[name] = vec[..., i : i + n]
        i += n
    return out


STRATEGIES = [
    Randomized(ConstantPi(0.5)),
    Randomized(LinearPi(0.3, 0.9, 6)),
    Randomized(ARTBPPi(3.0, 2.0)),  # T0 = 2: pi = 0.4, 0.5, 0.57, ... changes with the lag
]


@pytest.mark.parametrize("strategy", STRATEGIES, ids=["constant", "linear", "artbp"])
@pytest.mark.parametrize("T,B", [(6, 1), (4, 2)])
def test_exact_variance_equals_enumeration_of_every_gate_pattern(strategy, T, B):
    if isinstance(strategy.schedule, LinearPi):
        strategy = Randomized(LinearPi(0.3, 0.9, T))
    win = tiny_window(T, B)
    g = estimators.full_gradient(win)
    xi, prob = enumerate_gates(strategy, T, B)
    assert float(prob.sum()) == pytest.approx(1.0, abs=1e-12)
    G = estimators.batched_grads(win, xi)  # (n, P)
    mean = (prob[:, None] * G).sum(0)
    assert float(torch.linalg.vector_norm(mean - g)) < 1e-12 * float(torch.linalg.vector_norm(g))
    ex = moments.Moments(win).of(strategy)
    g2 = float(g.square().sum())
    want = split(prob[:, None] * (G - g).square(), win)
    for name, part in want.items():
        assert ex.variance_by_param[name] == pytest.approx(float(part.sum()) / g2, rel=1e-10, abs=1e-14), name
    total = float((prob[:, None] * (G - g).square()).sum()) / g2
    assert ex.variance == pytest.approx(total, rel=1e-10)
    assert ex.mse == pytest.approx(total, rel=1e-10) and ex.bias == 0.0
    assert ex.variance > 1e-3  # the window is one where the gates matter


@pytest.mark.parametrize("strategy", STRATEGIES, ids=["constant", "linear", "artbp"])
@pytest.mark.parametrize("T,B", [(6, 1), (4, 2)])
def test_exact_kept_share_per_lag_equals_enumeration(strategy, T, B):
    if isinstance(strategy.schedule, LinearPi):
        strategy = Randomized(LinearPi(0.3, 0.9, T))
    win = tiny_window(T, B)
    dec = lags.lag_decomposition(win)
    xi, prob = enumerate_gates(strategy, T, B)
    kept = torch.from_numpy(lags.kept_by_draws(dec, xi))  # (n, T)
    mean = (prob[:, None] * kept).sum(0)
    sd = ((prob[:, None] * (kept - mean).square()).sum(0)).sqrt()
    ex = moments.Moments(win, dec.proj).of(strategy)
    np.testing.assert_allclose(ex.kept_mean, mean.numpy(), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(ex.kept_sd, sd.numpy(), rtol=1e-9, atol=1e-14)
    assert ex.kept_sd[T - 1] > 0


def test_constant_pi_pair_moment_is_pi_to_minus_the_shared_edges():
    T, p = 7, 0.6
    M = moments.pair_second_moments(Randomized(ConstantPi(p)), T)
    P = moments.paths(T)
    for i, (t, s) in enumerate(P):
        for j, (t2, s2) in enumerate(P):
            shared = len(set(range(t + 1, s + 1)) & set(range(t2 + 1, s2 + 1)))
            assert M[i, j] == pytest.approx(p**-shared, rel=1e-12)


def test_lag_distribution_is_the_chain_of_the_drawn_gates():
    """P(L_u = L) against the lags the ARTBP draw itself walks through, over many rows."""
    T, n = 12, 200_000
    s = Randomized(ARTBPPi(3.0, 3.0))
    dist = moments.lag_distribution(moments.pi_table(s.schedule, T))
    xi = s.gates(n, T, torch.Generator().manual_seed(0)).numpy()
    lag = np.ones(n, dtype=int)
    for u in range(1, T):
        freq = np.bincount(lag, minlength=T + 1) / n
        se = np.sqrt(dist[u] * (1 - dist[u]) / n)
        assert (np.abs(freq - dist[u]) <= 5 * se + 1e-12).all(), u
        lag = np.where(xi[u] > 0, lag + 1, 1)


@pytest.mark.parametrize("k", [1, 3, 10])
def test_regular_is_deterministic_with_its_exact_bias(k):
    win = tiny_window(10, 3)
    ex = moments.Moments(win).of(Regular(k))
    sweep = estimators.regular_sweep(win).set_index("k")
    assert ex.bias == pytest.approx(float(sweep.loc[k, "bias"]), rel=1e-10, abs=1e-14)
    assert ex.variance == 0.0 and ex.mse == pytest.approx(ex.bias**2)
    dec = lags.lag_decomposition(win)
    np.testing.assert_allclose(ex.kept_mean, lags.kept_by_regular(dec, k), atol=1e-14)
    assert (ex.kept_sd == 0).all()


@pytest.mark.parametrize("strategy", [Randomized(ConstantPi(0.9)), Randomized(ARTBPPi(3.0, 10.0))],
                         ids=["pi0.9", "artbp10"])  # fmt: skip
def test_sample_moments_agree_where_sampling_converges(strategy):
    """With pi >= 0.8 and T = 10 the squared error has light tails: the sample mean of ‖ĝ - g‖² / ‖g‖²
    over 2,000 draws lies within 4 of its standard errors of the exact value."""
    win = tiny_window(10, 3)
    st = estimators.estimator_stats(win, strategy, 2000, generator=torch.Generator().manual_seed(1))
    sq = st.rel_error**2
    se = sq.std(ddof=1) / np.sqrt(len(sq))
    ex = moments.Moments(win).of(strategy)
    assert abs(sq.mean() - ex.mse) <= 4 * se
    assert se < 0.1 * ex.mse  # the bound is tight enough to mean something


def test_a_low_pi_sample_misses_the_rare_long_paths():
    """pi = 0.3 on a linear RNN whose W_hh has spectral radius 1.6 (the identity RNN of §8.7.2): half the
    exact variance sits on path pairs a draw keeps with tiny probability, and 200 draws fall far short."""
    model = make_model(activation="identity", scale=0.6)
    assert float(torch.linalg.eigvals(model.W_hh.detach()).abs().max()) > 1.5
    win = lags.forward_window(model, *tiny_window_xy(20, 2))
    s = Randomized(ConstantPi(0.3))
    ex = moments.Moments(win).of(s)
    assert ex.rare is not None and ex.rare < 1e-4
    st = estimators.estimator_stats(win, s, 200, generator=torch.Generator().manual_seed(0))
    assert st.variance < 1e-3 * ex.variance


def tiny_window_xy(T, B, seed=3):
    g = torch.Generator().manual_seed(seed)
    X = torch.randint(0, V, (B, T), generator=g)
    return X, torch.randint(0, V, (B, T), generator=g)


def test_without_the_1_over_pi_weight_is_refused():
    with pytest.raises(ValueError, match="1/pi"):
        moments.pair_second_moments(Randomized(ConstantPi(0.5), reweight=False), 5)


def test_tail_norm_is_the_norm_of_the_summed_long_lags():
    win = tiny_window(8, 2)
    dec = lags.lag_decomposition(win)
    g = lags.flatten(dec.full)
    tails = dec.tail_norms()
    for k in range(8):
        tail = sum((lags.flatten(dec.grads[j]) for j in range(k + 1, 8)), torch.zeros_like(g))
        assert tails[k] == pytest.approx(float(tail.norm() / g.norm()), rel=1e-12, abs=1e-15), k
    assert tails[-1] == 0.0 and tails[0] > 0


def test_lag_report_carries_the_exact_moments_of_each_strategy():
    from bptt.lab import reports as gradlab

    g = torch.Generator().manual_seed(5)
    X, Y = torch.randint(0, V, (2, 7), generator=g), torch.randint(0, V, (2, 7), generator=g)
    model = make_model()
    rep = gradlab.lag_report(model, X, Y, gradlab.lab_strategies(3, (0.5,), (2.0,)))
    win = lags.forward_window(model, X, Y)
    assert rep.kept_draws == 0
    exact = rep.exact.set_index("strategy")
    cases = {"randomized:0.5": Randomized(ConstantPi(0.5)), "artbp:3:2": Randomized(ARTBPPi(3.0, 2.0)),
             "regular:3": Regular(3)}  # fmt: skip
    for label, s in cases.items():
        ex = moments.Moments(win).of(s)
        assert exact.loc[label, "variance"] == pytest.approx(ex.variance, rel=1e-12)
        assert exact.loc[label, "bias"] == pytest.approx(ex.bias, rel=1e-12, abs=1e-15)
        np.testing.assert_allclose(rep.table[f"kept_{label}"], ex.kept_mean, rtol=1e-12, atol=1e-15)
        if label != "regular:3":
            np.testing.assert_allclose(rep.table[f"kept_{label}_std"], ex.kept_sd, rtol=1e-12, atol=1e-15)
    assert rep.norm_beyond(2) == pytest.approx(float(rep.table["tail_norm"][2]))


def test_sampled_vs_exact_says_when_the_sample_falls_short():
    from bptt.lab import reports as gradlab

    stats = pd.DataFrame({"kind": ["regular", "randomized", "randomized"], "value": [3, 0.5, 0.9],
                          "strategy": ["regular:3", "randomized:0.5", "randomized:0.9"],
                          "draws": [1, 100, 100], "mse": [0.2, 1.0, 0.30],
                          "mse_se": [0.0, 0.1, 0.02]})  # fmt: skip
    exact = pd.DataFrame({"strategy": ["randomized:0.5", "randomized:0.9"], "mse": [4e6, 0.31],
                          "draws_to_see": [1e6, 2.0]})  # fmt: skip
    out = gradlab.sampled_vs_exact(stats, exact).set_index("strategy")
    assert list(out.index) == ["randomized:0.5", "randomized:0.9"]
    assert bool(out.loc["randomized:0.5", "short"]) and not bool(out.loc["randomized:0.9", "short"])
    assert out.loc["randomized:0.5", "exact_mse"] == 4e6 and out.loc["randomized:0.5", "sampled_mse"] == 1.0


def test_a_window_over_the_exact_work_bound_falls_back_to_sampled_kept_shares(monkeypatch):
    """Too large for exact moments: the kept shares are sampled (their draws said), no exact table, and
    the plane says why it has no randomized points."""
    from bptt.charts import lab as lab_charts
    from bptt.lab import reports as gradlab

    monkeypatch.setattr(moments, "MAX_EXACT_WORK", 1.0)
    with pytest.raises(ValueError, match="times the work this host allows"):
        moments.Moments(tiny_window(6, 1))
    g = torch.Generator().manual_seed(5)
    X, Y = torch.randint(0, V, (2, 7), generator=g), torch.randint(0, V, (2, 7), generator=g)
    rep = gradlab.lag_report(make_model(), X, Y, gradlab.lab_strategies(3, (0.5,)), draws=50)
    assert rep.exact is None and rep.kept_draws == 50
    assert rep.table["kept_randomized:0.5_std"].iloc[1:].gt(0).any()
    sweep = pd.DataFrame({"k": [1, 2, 3], "bias": [0.5, 0.2, 0.0]})
    fig = lab_charts.plane_figure(rep.exact, sweep, "initialisation")
    assert len(fig.data) == 1 and "too large for exact moments" in fig.layout.annotations[0].text
