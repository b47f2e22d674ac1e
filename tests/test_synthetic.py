"""The delayed-recall corpus: the dependency sits exactly where d says, and nowhere else."""

import math
from collections import Counter

import numpy as np
import pytest
import torch

from bptt.data import seq_data_iter_sequential
from bptt.model import CharRNN
from bptt.tasks.delayed_recall import DelayedRecall, recall_metrics


def entropy_given(targets: list[str], contexts: list[tuple]) -> float:
    """H(target | context) in nats from counts (written apart from bptt.tasks.delayed_recall on purpose)."""
    joint = Counter(zip(contexts, targets))
    marg = Counter(contexts)
    n = len(targets)
    return -sum(c / n * math.log(c / marg[ctx]) for (ctx, _), c in joint.items())


def conditional_entropy(tokens: list[str], lag: int, where: np.ndarray | None = None) -> float:
    """H(x_{t+lag} | x_t) in nats, estimated from counts over the positions t (those in `where`)."""
    x = np.asarray(tokens)
    t = np.arange(len(x) - lag)
    if where is not None:
        t = t[where[: len(t)]]
    a, b = x[t], x[t + lag]
    joint: dict[tuple[str, str], int] = {}
    for pair in zip(a.tolist(), b.tolist()):
        joint[pair] = joint.get(pair, 0) + 1
    first: dict[str, int] = {}
    for (u, _), c in joint.items():
        first[u] = first.get(u, 0) + c
    total = len(t)
    return -sum(c / total * math.log(c / first[u]) for (u, _), c in joint.items())


def direct_paths(task: DelayedRecall, k: int, num_steps: int, batch_size: int = 32, epochs: int = 20,
                 seed: int = 0) -> dict[str, float]:  # fmt: skip
    """How often regular truncation with chunks of k leaves a path from the recall's loss back to each
    marker, measured over `epochs` epochs of the sequential sampler (d2l §8.3.2) on this task's stream:
    the fraction of recall losses in the windows whose step and the marker's step lie in one chunk
    [jk, (j+1)k) of the window (lags d - 1 for b, d for a), and the number of recall losses seen."""
    _toks, recall = task.tokens(seed)
    positions = list(range(len(recall)))  # the sampler over positions: each window says where it is
    rng = np.random.default_rng(seed)
    seen, kept = 0, {task.d - 1: 0, task.d: 0}
    for _ in range(epochs):
        for _X, Y in seq_data_iter_sequential(positions, batch_size, num_steps, rng):
            b, s = np.nonzero(recall[Y.numpy()])  # rows and window steps whose target is a recall
            seen += len(s)
            for lag in kept:
                t = s - lag
                kept[lag] += int(((t >= 0) & (t // k == s // k)).sum())
    return {"second_marker": kept[task.d - 1] / max(seen, 1), "first_marker": kept[task.d] / max(seen, 1),
            "recalls": seen}  # fmt: skip


@pytest.mark.parametrize("d", [3, 8, 17])
def test_recall_is_a_function_of_the_pair_exactly_d_steps_back(d):
    task = DelayedRecall(d=d, num_tokens=40_000)
    toks, recall = task.tokens(seed=5)
    r = np.flatnonzero(recall)
    r = r[r >= d + 2]
    M = task.num_markers

    def h(lag: int) -> float:  # H(x_r | x_{r-lag-1}, x_{r-lag}) over the recall positions r
        return entropy_given([toks[i] for i in r], [(toks[i - lag - 1], toks[i - lag]) for i in r])

    assert h(d) == pytest.approx(0.0, abs=1e-12), "the pair d steps back determines the recall"
    for lag in (1, d - 1, d + 1, d + 2):
        if lag >= 1 and lag != d:
            assert h(lag) > 0.95 * math.log(M), f"lag {lag} should carry no information"
    # One marker alone tells nothing (the recall is (a + b) mod M): the pair is needed.
    assert entropy_given([toks[i] for i in r], [toks[i - d] for i in r]) > 0.95 * math.log(M)
    assert all(toks[i] in task.markers for i in r)


def test_everything_but_the_recall_is_unpredictable_noise():
    task = DelayedRecall(d=6, num_tokens=60_000)
    toks, recall = task.tokens(seed=1)
    noise_at = np.array([t in task.noise for t in toks])
    # H(x_{t+lag} | x_t) over noise targets is ln(num_noise) for every lag: nothing to learn there.
    for lag in (1, 2, 6, 7):
        where = noise_at[lag:]
        got = conditional_entropy(toks, lag, where=np.r_[where, np.zeros(lag, bool)])
        assert got == pytest.approx(math.log(task.num_noise), abs=0.02)
    assert recall.mean() == pytest.approx(1 / (task.d + 2), abs=1e-3)


def test_corpus_vocab_is_fixed_and_seeds_differ():
    task = DelayedRecall(d=5, num_tokens=2_000)
    a, b = task.corpus(0), task.corpus(1)
    assert a.vocab.idx_to_token == b.vocab.idx_to_token == ["<unk>", "A", "B", "a", "b", "c", "d"]
    assert a.corpus != b.corpus and len(a) == 2_000
    assert a.corpus == task.corpus(0).corpus


@pytest.mark.parametrize("bad", [{"d": 1}, {"d": 101}, {"num_markers": 1}, {"num_tokens": 5}])
def test_bad_sizes_are_refused(bad):
    with pytest.raises(ValueError):
        DelayedRecall(**bad)


def test_an_untrained_model_recalls_at_chance():
    task = DelayedRecall(d=8, num_tokens=20_000)
    model = CharRNN(len(task.vocab()), 16, generator=torch.Generator().manual_seed(0))
    m = recall_metrics(model, task, seed=9)
    assert m["recall_perplexity"] == pytest.approx(task.chance_recall_perplexity, abs=0.02)
    assert abs(m["recall_accuracy"] - 0.5) < 0.06


def test_direct_paths_of_regular_truncation_to_the_markers():
    """The recall's loss is d - 1 steps after b and d after a: regular k <= d - 1 never keeps either path,
    k = d keeps b's for about 1/k of the recalls (b at a chunk's start) and never a's, and a whole window
    keeps them where both ends fall in it ((T - lag) / T of uniformly placed recalls)."""
    task = DelayedRecall(d=8)
    for k in (4, 6, 7):
        got = direct_paths(task, k, 32, epochs=5)
        assert got["second_marker"] == 0.0 and got["first_marker"] == 0.0 and got["recalls"] > 4000
    at_d = direct_paths(task, 8, 32, epochs=20)
    assert at_d["first_marker"] == 0.0
    assert abs(at_d["second_marker"] - 1 / 8) < 0.03
    whole = direct_paths(task, 32, 32, epochs=20)
    assert abs(whole["second_marker"] - 25 / 32) < 0.03 and abs(whole["first_marker"] - 24 / 32) < 0.03
