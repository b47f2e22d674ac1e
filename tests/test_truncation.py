"""The gradient estimators against independent references (d2l §8.7).

References: torch autograd on the plainly unrolled graph (one-hot inputs, detach/gate written out), the
book's closed forms for the bias-free identity-activation RNN of §8.7.2, and Monte Carlo means with
CLT bounds for the randomized estimator.
"""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from models import float64_rnn

from bptt.truncation import (
    ARTBPPi,
    ConstantPi,
    Full,
    LinearPi,
    Randomized,
    Regular,
    estimate_gradient,
    survival,
)

V, H, B, T = 6, 5, 3, 10


def make_model(activation="tanh", bias=True, scale=0.6, seed=0):
    """A small float64 model with weights large enough that the recurrence matters."""
    return float64_rnn(V, H, activation, bias, scale, seed)


def make_batch(seed=1):
    g = torch.Generator().manual_seed(seed)
    X = torch.randint(0, V, (B, T), generator=g)
    Y = torch.randint(0, V, (B, T), generator=g)
    state = torch.randn(B, H, generator=g, dtype=torch.float64) * 0.5
    return X, Y, state


def autograd_reference(model, X, Y, state, edge=lambda t, h: h):
    """Loss gradient by autograd on the unrolled graph; `edge(t, h_prev)` is what step t reads as
    h_{t-1} on its recurrent edge (the output layer always reads the true h_t)."""
    P = {n: p.detach().clone().requires_grad_(p.requires_grad) for n, p in model.named_parameters()}
    h, outputs = state, []
    for t in range(X.shape[1]):
        x = F.one_hot(X[:, t], V).double()  # (B, V): the book's one-hot input
        a = x @ P["W_xh"] + edge(t, h) @ P["W_hh"] + P["b_h"]
        h = torch.tanh(a) if model.activation == "tanh" else a
        outputs.append(h @ P["W_hq"] + P["b_q"])
    loss = F.cross_entropy(torch.cat(outputs), Y.T.reshape(-1))  # mean over all B*T tokens
    loss.backward()
    return {n: p.grad for n, p in P.items() if p.requires_grad}


def assert_grads_close(got, want, atol=1e-12):
    assert set(got) == set(want)
    for n in want:
        torch.testing.assert_close(got[n], want[n], atol=atol, rtol=1e-9, msg=f"gradient of {n}")


# -- Full ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bias", [True, False])
def test_full_equals_autograd_on_unrolled_graph(bias):
    model = make_model(bias=bias)
    X, Y, state = make_batch()
    got = estimate_gradient(model, X, Y, Full(), state=state)
    assert_grads_close(got, autograd_reference(model, X, Y, state))
    assert all(p.grad is None for p in model.parameters()), "the model's own .grad must stay untouched"


def test_full_with_zero_state_by_default():
    model = make_model()
    X, Y, _ = make_batch()
    zeros = torch.zeros(B, H, dtype=torch.float64)
    assert_grads_close(estimate_gradient(model, X, Y, Full()), autograd_reference(model, X, Y, zeros))


def book_closed_forms(model, X, Y, state):
    """§8.7.2 in the book's column-vector notation, per sequence, in numpy:
        dL/dh_T = W_qh^T dL/do_T;  dL/dh_t = W_hh^T dL/dh_{t+1} + W_qh^T dL/do_t
                = sum_{i=t}^{T} (W_hh^T)^{T-i} W_qh^T dL/do_{T+t-i}
        dL/dW_hh = sum_t dL/dh_t h_{t-1}^T,  dL/dW_hx = sum_t dL/dh_t x_t^T,  dL/dW_qh = sum_t dL/do_t h_t^T
    Returns (recursion result, unrolled-sum result), each {name: grad in the library's row layout}."""
    W_hx = model.W_xh.detach().numpy().T  # book: h_t = W_hx x_t + W_hh h_{t-1}; library: x_t W_xh
    W_hh = model.W_hh.detach().numpy().T
    W_qh = model.W_hq.detach().numpy().T
    Bn, Tn = X.shape
    results = []
    for unrolled in (False, True):
        gW_hx, gW_hh, gW_qh = np.zeros_like(W_hx), np.zeros_like(W_hh), np.zeros_like(W_qh)
        for b in range(Bn):
            xs = np.eye(V)[X[b].numpy()]  # (T, V) one-hot
            hs = [state[b].numpy()]
            for t in range(Tn):
                hs.append(W_hx @ xs[t] + W_hh @ hs[-1])
            os_ = [W_qh @ hs[t + 1] for t in range(Tn)]
            # dL/do_t for L = mean over all B*T tokens of cross-entropy: (softmax - onehot) / (B T)
            dos = []
            for t in range(Tn):
                p = np.exp(os_[t] - os_[t].max())
                p /= p.sum()
                p[Y[b, t]] -= 1.0
                dos.append(p / (Bn * Tn))
            dhs = [None] * Tn
            if unrolled:
                for t in range(Tn):
                    dhs[t] = sum(
                        np.linalg.matrix_power(W_hh.T, Tn - 1 - i) @ W_qh.T @ dos[Tn - 1 + t - i]
                        for i in range(t, Tn)
                    )
            else:
                dhs[Tn - 1] = W_qh.T @ dos[Tn - 1]
                for t in range(Tn - 2, -1, -1):
                    dhs[t] = W_hh.T @ dhs[t + 1] + W_qh.T @ dos[t]
            for t in range(Tn):
                gW_hh += np.outer(dhs[t], hs[t])  # h_{t-1}: hs is offset by one (hs[0] = h_0)
                gW_hx += np.outer(dhs[t], xs[t])
                gW_qh += np.outer(dos[t], hs[t + 1])
        results.append({"W_xh": gW_hx.T, "W_hh": gW_hh.T, "W_hq": gW_qh.T})
    return results


def test_identity_bias_free_model_matches_the_books_closed_forms():
    model = make_model(activation="identity", bias=False, scale=0.4)
    X, Y, state = make_batch()
    recursion, unrolled = book_closed_forms(model, X, Y, state)
    got = estimate_gradient(model, X, Y, Full(), state=state)
    assert set(got) == {"W_xh", "W_hh", "W_hq"}  # the bias-free model has no bias gradients
    for name in recursion:
        np.testing.assert_allclose(recursion[name], unrolled[name], atol=1e-12)
        np.testing.assert_allclose(got[name].numpy(), recursion[name], atol=1e-12, err_msg=name)


# -- Regular ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 2, 3, 4, 7])
def test_regular_equals_manual_detach_every_k_steps(k):
    model = make_model()
    X, Y, state = make_batch()
    want = autograd_reference(model, X, Y, state, edge=lambda t, h: h.detach() if t % k == 0 else h)
    assert_grads_close(estimate_gradient(model, X, Y, Regular(k), state=state), want)


@pytest.mark.parametrize("k", [T, T + 1, 100])
def test_regular_with_k_at_least_num_steps_is_full(k):
    model = make_model()
    X, Y, state = make_batch()
    full = estimate_gradient(model, X, Y, Full(), state=state)
    for n, g in estimate_gradient(model, X, Y, Regular(k), state=state).items():
        assert torch.equal(g, full[n])


def test_regular_truncation_really_changes_the_gradient():
    model = make_model()
    X, Y, state = make_batch()
    full = estimate_gradient(model, X, Y, Full(), state=state)
    cut = estimate_gradient(model, X, Y, Regular(2), state=state)
    assert not torch.allclose(full["W_hh"], cut["W_hh"], atol=1e-6)
    torch.testing.assert_close(full["W_hq"], cut["W_hq"])  # the output layer does not see truncation


# -- Randomized ------------------------------------------------------------------------------------


def test_randomized_with_pi_one_is_exactly_full():
    model = make_model()
    X, Y, state = make_batch()
    full = estimate_gradient(model, X, Y, Full(), state=state)
    got = estimate_gradient(model, X, Y, Randomized(ConstantPi(1.0)), state=state)
    for n in full:
        assert torch.equal(got[n], full[n])


def test_randomized_equals_autograd_with_the_same_gates():
    """Given the drawn xi, the estimator is the gated unrolled graph: g = h.detach() + xi (h - h.detach())."""
    model = make_model()
    X, Y, state = make_batch()
    strategy = Randomized(ConstantPi(0.6))
    xi = strategy.gates(B, T, torch.Generator().manual_seed(3))

    def gate(t, h):
        w = xi[t].unsqueeze(1)  # (B, 1)
        return h.detach() + w * (h - h.detach())

    got = estimate_gradient(model, X, Y, strategy, state=state, generator=torch.Generator().manual_seed(3))
    assert_grads_close(got, autograd_reference(model, X, Y, state, edge=gate))


def test_same_generator_seed_gives_the_same_draw():
    model = make_model()
    X, Y, state = make_batch()
    s = Randomized(ARTBPPi(3.0, 3.0))
    a = estimate_gradient(model, X, Y, s, state, torch.Generator().manual_seed(7))
    b = estimate_gradient(model, X, Y, s, state, torch.Generator().manual_seed(7))
    c = estimate_gradient(model, X, Y, s, state, torch.Generator().manual_seed(8))
    assert all(torch.equal(a[n], b[n]) for n in a)
    assert any(not torch.equal(a[n], c[n]) for n in a)


def monte_carlo(strategy, n, seed=0):
    """Mean and standard deviation (per element, flattened) of n independent draws."""
    model = make_model()
    X, Y, state = make_batch()
    full = torch.cat([g.flatten() for g in estimate_gradient(model, X, Y, Full(), state=state).values()])
    gen = torch.Generator().manual_seed(seed)
    draws = torch.stack(
        [torch.cat([g.flatten() for g in estimate_gradient(model, X, Y, strategy, state, gen).values()])
         for _ in range(n)]
    )  # fmt: skip
    return full, draws


def z_scores(full, draws):
    n = draws.shape[0]
    sd = draws.std(dim=0)
    varying = sd > 1e-12  # elements no cut can reach (the output layer) equal full exactly
    assert torch.allclose(draws.mean(0)[~varying], full[~varying], atol=1e-12)
    return (draws.mean(0)[varying] - full[varying]) / (sd[varying] / math.sqrt(n))


SCHEDULES = [ConstantPi(0.7), ARTBPPi(3.0, 2.0), LinearPi(0.95, 0.4, T)]


@pytest.mark.parametrize("schedule", SCHEDULES, ids=lambda s: type(s).__name__)
def test_randomized_mean_converges_to_full_within_clt_bound(schedule):
    full, draws = monte_carlo(Randomized(schedule), 3000)
    z = z_scores(full, draws)
    # Each element's mean is within 4.5 standard errors (Bonferroni over ~90 elements: false alarm < 1e-3),
    # and the z-scores have the spread of N(0, 1): the error shrinks like 1/sqrt(N), no faster, no slower.
    assert z.abs().max() < 4.5, float(z.abs().max())
    assert 0.3 < float((z**2).mean()) < 3.0


@pytest.mark.parametrize("schedule", SCHEDULES, ids=lambda s: type(s).__name__)
def test_randomized_error_shrinks_like_one_over_sqrt_n(schedule):
    """E||mean_N - full||^2 = tr(Cov) / N for an unbiased estimator: the normalised squared error,
    averaged over independent groups of N draws, stays near 1 as N grows 16-fold."""
    full, draws = monte_carlo(Randomized(schedule), 3200, seed=11)
    trace = float(draws.var(dim=0).sum())
    for n in (50, 200, 800):
        groups = draws.view(-1, n, draws.shape[1])  # 3200 / n independent groups
        mse = float(((groups.mean(1) - full) ** 2).sum(1).mean())
        assert 0.4 < mse * n / trace < 2.5, (n, mse * n / trace)


@pytest.mark.parametrize("schedule", SCHEDULES, ids=lambda s: type(s).__name__)
def test_cuts_without_the_1_over_pi_weight_fail_the_same_test(schedule):
    """Random segment lengths alone (AWD-LSTM style) are biased: the same CLT test must reject them."""
    full, draws = monte_carlo(Randomized(schedule, reweight=False), 3000)
    assert z_scores(full, draws).abs().max() > 10


def test_constant_pi_cut_frequency_and_weights():
    pi, n_rows, n_steps = 0.8, 4000, 30
    xi = Randomized(ConstantPi(pi)).gates(n_rows, n_steps, torch.Generator().manual_seed(0))
    assert xi.shape == (n_steps, n_rows)
    assert torch.all(xi[0] == 0), "the window boundary is a cut"
    inner = xi[1:]
    cut_rate = float((inner == 0).double().mean())
    se = math.sqrt(pi * (1 - pi) / inner.numel())
    assert abs(cut_rate - (1 - pi)) < 5 * se
    assert torch.allclose(inner[inner != 0], torch.tensor(1 / pi, dtype=torch.float64))
    assert abs(float(inner.mean()) - 1.0) < 5 * math.sqrt((1 / pi - 1) / inner.numel())  # E[xi] = 1


def test_artbp_hazard_falls_with_the_length_since_the_last_cut():
    sched = ARTBPPi(3.0, 4.0)
    xi = Randomized(sched).gates(20000, 12, torch.Generator().manual_seed(0)).numpy()
    # Empirical hazard at lag 1 and 2 (steps since the boundary cut at t=0), against c_T.
    for lag in (1, 2):
        at_risk = np.all(xi[1:lag] != 0, axis=0)  # no cut in steps 1..lag-1
        hazard = float(np.mean(xi[lag][at_risk] == 0))
        c = 3.0 / (2.0 * 4.0 + lag)
        assert abs(hazard - c) < 5 * math.sqrt(c * (1 - c) / at_risk.sum())


def test_artbp_weights_and_hazards_follow_the_length_since_the_last_cut_anywhere():
    """Tallec & Ollivier 2017, ARTBP: the probability of a cut at t depends on the length L of the current
    segment (steps since the last cut, wherever it fell): c_L = alpha / (2 t0 + L), pi_t = 1 - c_L, and a kept
    edge carries xi_t = 1 / pi_t. Recomputed here from each row's own cuts: every weight exactly, and the
    empirical cut rate at each length, pooled over t, within a CLT bound."""
    alpha, t0, n_rows, n_steps = 3.0, 4.0, 20000, 12
    xi = Randomized(ARTBPPi(alpha, t0)).gates(n_rows, n_steps, torch.Generator().manual_seed(1)).numpy()
    last_cut = np.zeros(n_rows, dtype=int)
    cuts_at, seen_at = np.zeros(n_steps + 1), np.zeros(n_steps + 1)
    for t in range(1, n_steps):
        lag = t - last_cut  # (n_rows,)
        pi = 1 - alpha / (2 * t0 + lag)
        kept = xi[t] != 0
        np.testing.assert_allclose(xi[t][kept], 1 / pi[kept], rtol=1e-12, err_msg=f"weights at t={t}")
        np.add.at(cuts_at, lag, ~kept)
        np.add.at(seen_at, lag, 1)
        last_cut = np.where(kept, last_cut, t)
    for lag in range(1, 4):  # each length seen after cuts at many different t
        c = alpha / (2 * t0 + lag)
        assert abs(cuts_at[lag] / seen_at[lag] - c) < 5 * math.sqrt(c * (1 - c) / seen_at[lag]), lag


def test_linear_schedule_varies_with_t():
    xi = Randomized(LinearPi(1.0, 0.5, 11)).gates(20000, 11, torch.Generator().manual_seed(0))
    rates = (xi == 0).double().mean(1)
    assert float(rates[1]) < 0.06 and abs(float(rates[10]) - 0.5) < 0.03


@pytest.mark.parametrize("bad", [0.0, -0.1, 1.01, float("nan"), float("inf")])
def test_pi_outside_zero_one_is_an_error(bad):
    with pytest.raises(ValueError, match="pi"):
        ConstantPi(bad)
    with pytest.raises(ValueError, match="pi"):
        LinearPi(0.9, bad, 10)


def test_invalid_k_and_artbp_parameters_are_errors():
    with pytest.raises(ValueError, match="k must"):
        Regular(0)
    with pytest.raises(ValueError, match="alpha"):
        ARTBPPi(1.0, 50.0)
    with pytest.raises(ValueError, match="alpha"):
        ARTBPPi(3.0, 1.0)  # c_1 = 3 / (2 + 1) = 1: pi would be 0


# -- Schedules' survival curves (Tallec & Ollivier 2017) ---------------------------------------------


def test_constant_pi_weight_grows_exponentially():
    s = survival(ConstantPi(0.98), 500)
    np.testing.assert_allclose(s["survival"], 0.98 ** s["lag"])
    assert s["weight"][99] == pytest.approx(7.54, rel=1e-2)  # 0.98^-100: the weight 1/(pi...pi) at lag 100
    assert s["weight"][199] == pytest.approx(56.9, rel=1e-2)  # 0.98^-200
    assert s["weight"][499] == pytest.approx(2.4e4, rel=2e-2)  # 0.98^-500


def test_artbp_weight_grows_polynomially_with_the_papers_closed_form():
    s = survival(ARTBPPi(3.0, 50.0), 5000)
    k = s["lag"]
    # prod_{T=1..k} (1 - 3/(100+T)) = prod (97+T)/(100+T) telescopes to 98*99*100 / ((k+98)(k+99)(k+100))
    np.testing.assert_allclose(s["weight"], (k + 98.0) * (k + 99) * (k + 100) / (98 * 99 * 100), rtol=1e-9)
    median = int(k[np.argmax(s["survival"] <= 0.5)])
    assert median in (25, 26, 27)  # P(L > k) = (98.99.100)/((k+98)(k+99)(k+100)) falls below 1/2 at k = 26
    mean = 1 + s["survival"].sum()  # E[L] = sum_{k>=0} P(L > k)
    assert 45 < mean < 51  # mean about 50 (the tail beyond lag 5000 is cut off)
    assert s["segment_pmf"].sum() == pytest.approx(1 - s["survival"][-1])
