"""The gradient lab's numbers against independent references (d2l §8.7).

References: autograd on the plainly unrolled graph with manual detach/gates (as in test_truncation),
`bptt.truncation.bptt` draw by draw, torch.autograd.functional.jacobian for dh_t/dh_{t-k}, the book's
closed form for the identity RNN of §8.7.2 (the lag-k term is (W_hh^T)^k), Monte Carlo means with CLT
bounds for the randomized estimators.
"""

import numpy as np
import pandas as pd
import pytest
import torch
from test_truncation import autograd_reference, make_batch, make_model

import bptt
from bptt.lab import estimators, lags
from bptt.truncation import ARTBPPi, ConstantPi, Full, Randomized, Regular
from bptt.truncation import bptt as bptt_recursion

V, H, B, T = 6, 5, 3, 10


def window(model, X, Y, state):
    return lags.forward_window(model, X, Y, state)


def rel(a, b):
    return float(torch.linalg.vector_norm(a - b) / torch.linalg.vector_norm(b))


@pytest.mark.parametrize("bias", [True, False])
def test_lags_sum_to_the_full_gradient(bias):
    model = make_model(bias=bias)
    X, Y, state = make_batch()
    dec = lags.lag_decomposition(window(model, X, Y, state))
    want = autograd_reference(model, X, Y, state)
    for name in dec.full:
        summed = sum(g[name] for g in dec.grads)
        assert rel(summed, want[name]) < 1e-10, name
        assert rel(dec.full[name], want[name]) < 1e-10, name
    table = dec.table()
    assert table["share"].sum() == pytest.approx(1.0, abs=1e-10)
    assert len(table) == T and (table["norm_ratio"] >= 0).all()
    assert dec.share_beyond(-1) == pytest.approx(1.0, abs=1e-10)


def test_identity_rnn_lag_k_term_is_the_power_of_W_hh():
    """§8.7.2: for h_t = W_hx x_t + W_hh h_{t-1}, the loss at s reaches step t = s - k through
    (W_hh^T)^k W_qh^T dL/do_s, so g_k(W_hh) = sum_s (W_hh^T)^k W_qh^T dL/do_s h_{s-k-1}^T (book layout)."""
    model = make_model(activation="identity", bias=False, scale=0.4)
    X, Y, state = make_batch()
    win = window(model, X, Y, state)
    dec = lags.lag_decomposition(win)
    Whh = model.W_hh.detach().numpy().T  # book layout
    E = win.E.numpy()  # (T, B, H) = dL/do_s W_hq^T in row layout: W_qh^T dL/do_s per row
    Hp = win.Hprev.numpy()
    for k in (0, 1, 3, T - 1):
        want = np.zeros((H, H))
        for s in range(k, T):
            for b in range(B):
                want += np.outer(np.linalg.matrix_power(Whh.T, k) @ E[s, b], Hp[s - k, b])
        np.testing.assert_allclose(dec.grads[k]["W_hh"].numpy().T, want, atol=1e-13, err_msg=f"lag {k}")


@pytest.mark.parametrize("k", [1, 2, 3, 4, 7, T])
def test_regular_keeps_exactly_its_estimator(k):
    model = make_model()
    X, Y, state = make_batch()
    win = window(model, X, Y, state)
    dec = lags.lag_decomposition(win)
    detach = autograd_reference(model, X, Y, state, edge=lambda t, h: h.detach() if t % k == 0 else h)
    recursion = bptt_recursion(model, X, Y, Regular(k).gates(B, T), state).grads
    kept = lags.kept_gradient(win, torch.from_numpy(lags.regular_keeps(k, T)).double())
    batched = estimators.batched_grads(win, Regular(k).gates(B, T)[None])[0]
    for name in kept:
        assert rel(kept[name], detach[name]) < 1e-10, name
        assert rel(recursion[name], detach[name]) < 1e-10, name
    assert rel(batched, lags.flatten(detach)) < 1e-10
    # the per-lag kept shares add up to the estimator's projection on g
    g = lags.flatten(dec.full)
    assert lags.kept_by_regular(dec, k).sum() == pytest.approx(float(batched @ g) / dec.g_norm2, abs=1e-10)


def test_kept_shares_of_regular_depend_on_the_position_in_the_chunk():
    mask = lags.regular_keeps(3, 7)
    assert mask[0].all()  # lag 0 always survives
    assert mask[1].tolist() == [True, True, False, True, True, False, False]  # s = t + 1 = 3, 6 cut
    assert not mask[3].any()  # a lag of k always crosses a cut


def test_path_weights_of_a_draw_give_that_draw():
    """A randomized draw is the sum of the path groups weighted by the product of its gates."""
    model = make_model()
    X, Y, state = make_batch()
    win = window(model, X, Y, state)
    for strategy in (Randomized(ConstantPi(0.6)), Randomized(ARTBPPi(3.0, 4.0))):
        xi = estimators.draw_gates(strategy, 1, B, T, torch.Generator().manual_seed(5))
        W = lags.path_weights(xi)[0]
        kept = lags.kept_gradient(win, W)
        want = bptt_recursion(model, X, Y, xi[0], state).grads
        for name in kept:
            assert rel(kept[name], want[name]) < 1e-10, name


def test_batched_draws_equal_bptt_draw_by_draw():
    model = make_model()
    X, Y, state = make_batch()
    win = window(model, X, Y, state)
    xi = estimators.draw_gates(Randomized(ConstantPi(0.5)), 7, B, T, torch.Generator().manual_seed(2))
    G = estimators.batched_grads(win, xi)
    for i in range(7):
        want = lags.flatten(bptt_recursion(model, X, Y, xi[i], state).grads)
        assert rel(G[i], want) < 1e-10


@pytest.mark.parametrize("schedule", [ConstantPi(0.6), ARTBPPi(3.0, 4.0)])
def test_randomized_is_unbiased_within_its_monte_carlo_error(schedule):
    model = make_model()
    X, Y, state = make_batch()
    win = window(model, X, Y, state)
    gen = torch.Generator().manual_seed(11)
    stats = estimators.estimator_stats(win, Randomized(schedule), 2000, generator=gen)
    assert stats.variance > 1e-4  # a real spread, so the bound below is not vacuous
    # E||mean - g||^2 = tr Cov / n for an unbiased estimator: the bias norm is about one standard error
    assert stats.bias < 3 * stats.bias_se, stats.row()
    biased = estimators.estimator_stats(win, Randomized(schedule, reweight=False), 2000, generator=gen)
    assert biased.bias > 10 * biased.bias_se, biased.row()  # without 1/pi the test does fail
    assert stats.mse == pytest.approx(stats.variance + stats.bias**2, rel=0.05)


def test_randomized_keeps_every_lag_on_average():
    model = make_model()
    X, Y, state = make_batch()
    win = window(model, X, Y, state)
    dec = lags.lag_decomposition(win)
    xi = estimators.draw_gates(Randomized(ConstantPi(0.7)), 2000, B, T, torch.Generator().manual_seed(4))
    kept = lags.kept_by_draws(dec, xi)  # (n, T)
    share = dec.table()["share"].to_numpy()
    se = kept.std(0, ddof=1) / np.sqrt(len(kept))
    assert (np.abs(kept.mean(0) - share) <= 4 * se + 1e-12).all()
    assert se[3:].max() > 0  # long lags really are random


def test_regular_has_zero_variance_and_its_exact_bias():
    model = make_model()
    X, Y, state = make_batch()
    win = window(model, X, Y, state)
    g = estimators.full_gradient(win)
    sweep = estimators.regular_sweep(win)
    assert list(sweep["k"]) == list(range(1, T + 1))
    assert sweep["bias"].iloc[-1] < 1e-12  # k = num_steps is full
    want = rel(lags.flatten(bptt_recursion(model, X, Y, Regular(3).gates(B, T), state).grads), g)
    assert sweep.set_index("k").loc[3, "bias"] == pytest.approx(want, rel=1e-10)
    stats = estimators.estimator_stats(win, Regular(3), 5)
    assert stats.variance == pytest.approx(0.0, abs=1e-20) and stats.bias == pytest.approx(want, rel=1e-9)


def test_choose_k_is_the_smallest_k_within_eps():
    sweep = pd.DataFrame({"k": [1, 2, 3, 4], "bias": [0.5, 0.2, 0.25, 0.05]})
    assert estimators.choose_k(sweep, 0.2) == 2
    assert estimators.choose_k(sweep, 0.1) == 4
    assert estimators.choose_k(sweep, 0.01) is None


def test_travel_matches_autograd_jacobians():
    model = make_model(scale=0.9)
    X, Y, state = make_batch()
    win = window(model, X, Y, state)
    tr = lags.travel(win, rows=B)
    P = {n: p.detach() for n, p in model.named_parameters()}
    x = torch.nn.functional.one_hot(X, V).double()

    def run(h, b, start):  # h_{T-1} as a function of h_start, row b
        for t in range(start + 1, T):
            h = torch.tanh(x[b, t] @ P["W_xh"] + h @ P["W_hh"] + P["b_h"])
        return h

    hs = win.Hprev  # h_{t-1}
    last = T - 1
    for k in (1, 2, 5, T - 1):
        norms = []
        for b in range(B):
            start = last - k
            h_start = hs[start + 1, b]  # h_{start}
            J = torch.autograd.functional.jacobian(lambda h, b=b, s=start: run(h, b, s), h_start)
            norms.append(float(torch.linalg.matrix_norm(J, ord=2)))
        row = tr.set_index("lag").loc[k]
        assert 10 ** row["log10_max"] == pytest.approx(max(norms), rel=1e-9)
        assert 10 ** row["log10_mean"] == pytest.approx(np.mean(norms), rel=1e-9)
        assert row["log10_max"] <= row["log10_bound"] + 1e-12
    sigma = float(torch.linalg.matrix_norm(model.W_hh.detach(), ord=2))
    assert tr["sigma_max"].iloc[0] == pytest.approx(sigma)


def test_spectral_norm_by_subspace_iteration_matches_svd():
    g = torch.Generator().manual_seed(0)
    W = torch.randn(64, 64, generator=g, dtype=torch.float64) / 8
    M = torch.stack([torch.linalg.matrix_power(W, k) for k in (1, 2, 4, 8)])
    got = lags.spectral_norm(M)
    want = torch.linalg.matrix_norm(M, ord=2)
    torch.testing.assert_close(got, want, rtol=2e-2, atol=0)
    torch.testing.assert_close(got[1:], want[1:], rtol=1e-3, atol=0)


def test_eigenvalues_of_W_hh():
    model = make_model()
    ev = lags.eigenvalues(model)
    assert ev.shape == (H,) and np.iscomplexobj(ev)
    assert np.max(np.abs(ev)) <= float(torch.linalg.matrix_norm(model.W_hh.detach(), ord=2)) + 1e-12


def test_too_many_draws_refused():
    model = make_model()
    X, Y, state = make_batch()
    with pytest.raises(ValueError, match="between 1 and"):
        estimators.estimator_stats(window(model, X, Y, state), Full(), 5000)


def test_book_model_float32_weights_accepted():
    g = torch.Generator().manual_seed(0)
    model = bptt.CharRNN(V, 8, generator=g)  # float32 as the trainer makes it
    X, Y, _ = make_batch()
    dec = lags.lag_decomposition(lags.forward_window(model, X, Y))
    assert dec.proj.dtype == np.float64 and dec.table()["share"].sum() == pytest.approx(1.0)


def test_cli_prints_one_json_object(capsys):
    import json

    from bptt.cli import main

    args = ["--num-hiddens", "8", "--num-steps", "6", "--batch-size", "2", "--draws", "20"]
    code = main(
        ["gradlab", *args, "--max-tokens", "2000", "--strategy", "regular:2", "--strategy", "randomized:0.8"]
    )
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert sum(out["lags"]["share"]) == pytest.approx(1.0, abs=1e-9)
    assert [e["strategy"] for e in out["estimators"]] == ["regular:2", "randomized:0.8"]
    assert out["estimators"][0]["variance"] == 0.0
    assert len(out["regular_sweep"]) == 6 and out["regular_sweep"][-1]["bias"] < 1e-6
    exact = {e["strategy"]: e for e in out["exact"]}
    assert exact["randomized:0.8"]["bias"] == 0.0 and exact["randomized:0.8"]["variance"] > 0
    sampled = out["estimators"][0]["bias"]  # float32 draws
    assert exact["regular:2"]["bias"] == pytest.approx(sampled, rel=1e-5)


def test_cli_refuses_too_many_draws(capsys):
    from bptt.cli import main

    assert main(["gradlab", "--draws", "9999"]) == 2
    assert "between 1 and" in capsys.readouterr().err


def test_draw_budget_refuses_an_hour_of_work():
    from bptt.lab.reports import check_draw_budget

    check_draw_budget(2, 2000, 35, 32, 256)  # the book's size, two strategies: allowed
    with pytest.raises(ValueError, match="times what this host allows"):
        check_draw_budget(6, 2000, 100, 128, 512)


def test_the_bias_variance_plane_puts_regular_at_variance_zero_on_a_strip_of_its_own():
    """A log variance axis has no 0: regular k (variance exactly 0) sits on its own strip below."""
    from bptt.charts import lab as lab_charts

    sweep = pd.DataFrame({"k": np.arange(1, 36), "bias": np.linspace(0.7, 0.0, 35), "variance": 0.0})
    exact = pd.DataFrame({"kind": ["randomized", "randomized"], "value": [0.9, 0.5],
                          "strategy": ["randomized:0.9", "randomized:0.5"], "bias": [0.0, 0.0],
                          "variance": [0.05, 4e6]})  # fmt: skip
    fig = lab_charts.plane_figure(exact, sweep, "initialisation")
    regular, randomized = fig.data
    assert regular.yaxis == "y2" and set(regular.y) == {0.0} and len(regular.x) == 35
    assert randomized.yaxis == "y" and fig.layout.yaxis.type == "log"
    assert list(randomized.y) == [4e6, 0.05] and set(randomized.x) == {0.0}  # exact values, by π
    named = [t for t in regular.text if t]
    assert "k=35" in named and "k=10" in named and len(named) < 12  # a few named, all in the hover
