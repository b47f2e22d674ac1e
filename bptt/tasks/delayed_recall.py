"""A synthetic corpus whose only learnable structure is a dependency exactly d steps long.

The stream is a run of episodes of d + 2 tokens each:

    a, b, n_1, ..., n_{d-1}, r,   a', b', n'_1, ..., r',   ...

a and b are *markers*, each one of `num_markers` upper-case letters drawn uniformly; n_i are *noise*
letters drawn uniformly from `num_noise` lower-case letters; the episode's last token r is the marker
(a + b) mod num_markers (with two markers, their XOR), d steps after b. Neither marker alone predicts r,
so the one thing a model can learn beyond the letter frequencies is r at the recall position. The loss
that scores r sits at the step whose input is the token before r, so the gradient that teaches it has to
travel d - 1 steps back to b and d steps back to a (lags d - 1 and d; d2l §8.7: the chain of Jacobians
dh_t/dh_{t-1}).

Consequences for the truncation strategies of d2l §8.7.1, with windows of num_steps tokens:
- regular truncation with k <= d - 1: neither marker ever shares a chunk with the recall's loss (two steps
  d - 1 >= k apart cannot lie in one block of k), so no gradient links them;
- regular truncation with k = d: the second marker and the loss share a chunk when b sits at a chunk's
  start, for about 1/k of the recalls; the first marker never does, so what
  the gradient learns there it learns by reading a through the state carried into the chunk;
- full BPTT within the window: the pairs that fall in one window (a fraction (num_steps - d) / num_steps
  of them) carry the signal;
- randomized truncation: a segment reaches d steps back with probability pi^d (constant pi), and the
  1/pi_t weights keep the estimate unbiased (Tallec & Ollivier 2017).

The recall positions are where the `recall_*` metrics below are measured; chance there is
num_markers (perplexity over the markers) since every marker is equally likely.
"""

from __future__ import annotations

import math
import re
import string
from dataclasses import dataclass

import numpy as np
import torch

from ..data import Corpus, Vocab

MAX_DELAY = 100  # d; bounded for a shared host (episodes, windows and memory grow with it)
# The corpus name DelayedRecall.corpus writes (exports and the CLI's JSON keep it as it is);
# bptt.corpora.corpus_title matches it to show it in the reader's language.
DELAYED_RECALL = re.compile(
    r"delayed recall \(d=(?P<d>\d+), (?P<markers>\d+) markers, (?P<noise>\d+) noise letters\)"
)


@dataclass(frozen=True)
class DelayedRecall:
    """The corpus' constants: d (the dependency length), the alphabets and the stream's length."""

    d: int = 10
    num_markers: int = 2
    num_noise: int = 4
    num_tokens: int = 10_000

    def __post_init__(self) -> None:
        if not (isinstance(self.d, int) and 2 <= self.d <= MAX_DELAY):
            raise ValueError(f"d must be a whole number in [2, {MAX_DELAY}] (got {self.d!r})")
        if not (2 <= self.num_markers <= 26 and 1 <= self.num_noise <= 26):
            raise ValueError("num_markers must be in [2, 26] and num_noise in [1, 26]")
        if not (2 * (self.d + 2) <= self.num_tokens <= 1_000_000):
            raise ValueError(f"num_tokens must be in [{2 * (self.d + 2)}, 1,000,000]")

    @property
    def markers(self) -> list[str]:
        return list(string.ascii_uppercase[: self.num_markers])

    @property
    def noise(self) -> list[str]:
        return list(string.ascii_lowercase[: self.num_noise])

    def tokens(self, seed: int) -> tuple[list[str], np.ndarray]:
        """The token stream and a boolean mask of its recall positions (the episodes' last tokens)."""
        rng = np.random.default_rng(seed)
        period = self.d + 2
        episodes = -(-self.num_tokens // period)
        a, b = rng.integers(0, self.num_markers, (2, episodes))
        noise = rng.integers(0, self.num_noise, (episodes, self.d - 1))
        markers, letters = np.array(self.markers), np.array(self.noise)
        grid = np.empty((episodes, period), dtype="<U1")
        grid[:, 0], grid[:, 1] = markers[a], markers[b]
        grid[:, 2:-1] = letters[noise]
        grid[:, -1] = markers[(a + b) % self.num_markers]  # the recall: d steps after the pair's end
        recall = np.zeros((episodes, period), dtype=bool)
        recall[:, -1] = True
        return list(grid.ravel()[: self.num_tokens]), recall.ravel()[: self.num_tokens]

    def vocab(self) -> Vocab:
        """A fixed vocabulary (the same for every seed): '<unk>', the markers, then the noise letters."""
        return Vocab(self.markers + self.noise)

    def corpus(self, seed: int = 0) -> Corpus:
        """The stream as a Corpus for the Trainer (token indices and the vocabulary)."""
        toks, _ = self.tokens(seed)
        vocab = self.vocab()
        name = f"delayed recall (d={self.d}, {self.num_markers} markers, {self.num_noise} noise letters)"
        return Corpus(name=name, corpus=vocab[toks], vocab=vocab)

    @property
    def chance_recall_perplexity(self) -> float:
        return float(self.num_markers)


@torch.no_grad()
def recall_metrics(model, task: DelayedRecall, seed: int, batch_size: int = 16) -> dict[str, float]:
    """The model's recall on a fresh stream (seed `seed`), read with the state carried all the way:

    recall_perplexity: exp of the mean -log p(marker | it is a marker), over the recall positions
    (the probability renormalised over the markers, so the timing of the recall is not scored);
    chance is num_markers. recall_accuracy: how often the most likely marker is the right one.
    """
    toks, recall = task.tokens(seed)
    vocab = task.vocab()
    ids = torch.tensor(vocab[toks], dtype=torch.int64)
    n = (len(ids) - 1) // batch_size * batch_size
    X = ids[:n].reshape(batch_size, -1).to(model.device)
    Y = ids[1 : n + 1].reshape(batch_size, -1)
    mask = torch.from_numpy(recall[1 : n + 1].reshape(batch_size, -1))
    logits, _ = model(X, None)  # (T*B, V), time-major
    T = X.shape[1]
    logits = logits.reshape(T, batch_size, -1).transpose(0, 1).float().cpu()  # (B, T, V)
    marker_ids = torch.tensor(vocab[task.markers])
    logp = torch.log_softmax(logits[..., marker_ids], dim=-1)  # over the markers only
    target = (Y - int(marker_ids[0])).clamp(0, len(marker_ids) - 1)  # the vocabulary lists markers first
    picked = logp.gather(-1, target[..., None])[..., 0]
    nll = float(-picked[mask].mean())
    acc = float((logp.argmax(-1) == target)[mask].float().mean())
    return {"recall_perplexity": math.exp(nll) if nll < 709 else math.inf, "recall_accuracy": acc}
