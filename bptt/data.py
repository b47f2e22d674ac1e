"""Tokens, the vocabulary, a `Corpus` and the two minibatch samplers (d2l §8.2-§8.3, used by §8.5-§8.7).

Where the text comes from (the book's *The Time Machine*, the bundled Shakespeare, an upload) is
bptt/corpora.py; every source becomes a `Corpus` here: the first `max_tokens` token indices plus the
`Vocab` that maps them.
"""

from __future__ import annotations

import collections
import operator
import re
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from .i18n import N_, _, ngettext

# The two samplers of d2l §8.3, by the book's names (shown with _()).
SAMPLER_NAMES = {"random": N_("random sampling"), "sequential": N_("sequential partitioning")}


class CorpusError(ValueError):
    """Bad user text; `.kind` is one of 'empty', 'binary', 'not_utf8', 'too_large', 'too_short'."""

    KINDS = ("empty", "binary", "not_utf8", "too_large", "too_short")

    def __init__(self, kind: str, message: str):
        if kind not in self.KINDS:
            raise ValueError(f"unknown CorpusError kind {kind!r}")
        super().__init__(message)
        self.kind = kind
        self.message = message


# --------------------------------------------------------------------------------------------------
# Tokens and vocabulary (d2l §8.2)


def _lines(text: str) -> list[str]:
    # The book reads the file with readlines() in text mode, i.e. universal newlines: \n, \r\n, \r.
    return re.split(r"\r\n|\r|\n", text)


def tokenize(text: str, mode: str = "letters") -> list[str]:
    """Split `text` into character tokens.

    'letters' is d2l §8.2's preprocessing: per line, every run of non-letters becomes one space, then
    strip and lowercase; the lines are concatenated with no separator (load_corpus_time_machine flattens
    the per-line token lists). 'chars' keeps every character (so Chinese text trains), with each run
    of whitespace, newlines included, turned into one space and the ends stripped.
    """
    if mode == "letters":
        return [ch for line in _lines(text) for ch in re.sub("[^A-Za-z]+", " ", line).strip().lower()]
    if mode == "chars":
        return list(re.sub(r"\s+", " ", text).strip())
    raise ValueError(f"unknown tokenizer {mode!r}; use 'letters' or 'chars'")


class Vocab:
    """d2l's Vocab (§8.2): '<unk>' at index 0, then tokens by frequency, most frequent first.

    Ties keep first appearance (a stable sort of a Counter, as in the book). `max_size` caps
    len(vocab) including '<unk>'; rarer tokens then map to '<unk>'. `token_freqs` lists every
    token seen, kept or not.
    """

    unk: int = 0

    def __init__(self, tokens: list[str], max_size: int | None = None):
        if max_size is not None and max_size < 1:
            raise ValueError(f"max_size must be at least 1 (for '<unk>'), got {max_size}")
        self.token_freqs: list[tuple[str, int]] = sorted(
            collections.Counter(tokens).items(), key=lambda x: x[1], reverse=True
        )
        self.idx_to_token: list[str] = ["<unk>"]
        self.token_to_idx: dict[str, int] = {"<unk>": 0}
        for token, _freq in self.token_freqs:
            if max_size is not None and len(self.idx_to_token) >= max_size:
                break
            if token not in self.token_to_idx:
                self.token_to_idx[token] = len(self.idx_to_token)
                self.idx_to_token.append(token)

    def __len__(self) -> int:
        return len(self.idx_to_token)

    def __getitem__(self, tokens):
        """A token's index (unknown tokens: 0), or a list of indices for a list/tuple of tokens."""
        if not isinstance(tokens, (list, tuple)):
            return self.token_to_idx.get(tokens, self.unk)
        return [self.token_to_idx.get(token, self.unk) for token in tokens]

    def to_tokens(self, indices) -> list[str] | str:
        """The token of one index, or the list of tokens of a sequence (list, array, tensor)."""
        try:
            return self.idx_to_token[operator.index(indices)]
        except TypeError:
            return [self.idx_to_token[int(i)] for i in indices]


@dataclass(frozen=True)
class Corpus:
    """Token indices (already cut to max_tokens) with their vocabulary and where they came from."""

    name: str
    corpus: list[int]
    vocab: Vocab
    notice: str | None = None

    def __len__(self) -> int:
        return len(self.corpus)


# --------------------------------------------------------------------------------------------------
# Corpus construction (d2l §8.2's load_corpus_time_machine, generalised)


def _mostly_non_latin(text: str) -> bool:
    """True when most letters of `text` are not A-Z/a-z, so letters mode would throw them away."""
    latin = len(re.findall("[A-Za-z]", text))
    other = len(re.findall(r"[^\W\d_]", text)) - latin  # [^\W\d_]: any Unicode letter
    return other > latin


def make_corpus(
    text: str,
    name: str,
    *,
    tokenizer: str = "letters",
    max_tokens: int = 10_000,
    max_vocab: int | None = None,
    notice: str | None = None,
) -> Corpus:
    """Tokenize `text`, build the Vocab over the whole text (capped at `max_vocab` entries incl.
    '<unk>'), then keep the first `max_tokens` tokens: the order of d2l's load_corpus_time_machine
    (§8.3), so the indices are the book's.

    Raises CorpusError('too_short') when fewer than 2 tokens remain, or when letters mode would
    discard most of the text's letters (Chinese, Greek, ...): the message then suggests 'chars'.
    """
    if max_tokens < 2:
        raise ValueError(f"max_tokens must be at least 2, got {max_tokens}")
    all_tokens = tokenize(text, tokenizer)
    tokens = all_tokens[:max_tokens]
    if tokenizer == "letters" and _mostly_non_latin(text):
        raise CorpusError(
            "too_short",
            ngettext(
                "The letters tokenizer keeps only a-z and spaces, so it would keep just {n} token of this "
                "text and drop most of its letters. Choose the 'chars' tokenizer (every "
                "character), which keeps every character: the one for Chinese and other scripts.",
                "The letters tokenizer keeps only a-z and spaces, so it would keep just {n} tokens of this "
                "text and drop most of its letters. Choose the 'chars' tokenizer (every "
                "character), which keeps every character: the one for Chinese and other scripts.",
                len(tokens),
            ).format(n=len(tokens)),
        )
    if len(tokens) < 2:
        if tokenizer == "letters":
            message = ngettext(
                "The text has {n} letter a-z after preprocessing; at least 2 are needed.",
                "The text has {n} letters a-z after preprocessing; at least 2 are needed.",
                len(tokens),
            )
        else:
            message = ngettext(
                "The text has {n} character after preprocessing; at least 2 are needed.",
                "The text has {n} characters after preprocessing; at least 2 are needed.",
                len(tokens),
            )
        raise CorpusError("too_short", message.format(n=len(tokens)))
    vocab = Vocab(all_tokens, max_size=max_vocab)
    return Corpus(name=name, corpus=vocab[tokens], vocab=vocab, notice=notice)


# --------------------------------------------------------------------------------------------------
# Minibatch samplers (d2l §8.3), with a numpy Generator instead of the `random` module


def num_batches(num_tokens: int, batch_size: int, num_steps: int, sampler: str) -> int:
    """Minibatches one epoch yields at the worst-case (largest) offset; a smaller random offset
    gives the same count or one more (good enough for progress bars).
    """
    if sampler == "random":  # offset in [0, num_steps - 1]
        return max(0, (num_tokens - num_steps) // num_steps) // batch_size
    if sampler == "sequential":  # offset in [0, num_steps]
        return max(0, (num_tokens - num_steps - 1) // batch_size) // num_steps
    raise ValueError(f"unknown sampler {sampler!r}; use 'random' or 'sequential'")


def check_trainable(num_tokens: int, batch_size: int, num_steps: int, sampler: str) -> None:
    """Raise CorpusError('too_short') if the sampler could yield no minibatch at some offset."""
    if num_batches(num_tokens, batch_size, num_steps, sampler) > 0:
        return
    # Solving the formulas in num_batches for one minibatch at the worst offset:
    need = (batch_size + 1) * num_steps if sampler == "random" else (batch_size + 1) * num_steps + 1
    raise CorpusError(
        "too_short",
        _(
            "The sampler ({sampler}) needs at least {need} tokens for one minibatch of batch_size x "
            "num_steps = {batch_size} x {num_steps}; this text has {have}. Use a longer text, or a "
            "smaller batch size or sequence length."
        ).format(
            sampler=_(SAMPLER_NAMES.get(sampler, sampler)),
            need=f"{need:,}",
            batch_size=batch_size,
            num_steps=num_steps,
            have=f"{num_tokens:,}",
        ),
    )


def seq_data_iter_random(
    corpus: list[int], batch_size: int, num_steps: int, rng: np.random.Generator
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Random sampling (d2l §8.3.1): a random offset, then shuffled, disjoint subsequences.

    Yields int64 (batch_size, num_steps) tensors X and Y, Y being X shifted by one token.
    """
    # A random offset so that different epochs see different subsequence boundaries.
    offset = int(rng.integers(0, num_steps))  # random.randint(0, num_steps - 1)
    data = np.asarray(corpus, dtype=np.int64)[offset:]
    # Subtract 1: the labels need one token beyond each subsequence.
    num_subseqs = max(0, (len(data) - 1) // num_steps)
    initial_indices = np.arange(0, num_subseqs * num_steps, num_steps)
    rng.shuffle(initial_indices)
    steps = np.arange(num_steps)
    for i in range(0, batch_size * (num_subseqs // batch_size), batch_size):
        positions = initial_indices[i : i + batch_size, None] + steps  # (batch_size, num_steps)
        yield torch.from_numpy(data[positions]), torch.from_numpy(data[positions + 1])


def seq_data_iter_sequential(
    corpus: list[int], batch_size: int, num_steps: int, rng: np.random.Generator
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Sequential partitioning (d2l §8.3.2): row i of minibatch j+1 continues row i of minibatch j,
    which lets the hidden state carry over between minibatches (detached, §8.5).

    Yields int64 (batch_size, num_steps) tensors X and Y, Y being X shifted by one token.
    """
    offset = int(rng.integers(0, num_steps + 1))  # random.randint(0, num_steps), inclusive as the book
    data = np.asarray(corpus, dtype=np.int64)
    num_tokens = max(0, (len(data) - offset - 1) // batch_size) * batch_size
    Xs = torch.from_numpy(data[offset : offset + num_tokens]).reshape(batch_size, -1)
    Ys = torch.from_numpy(data[offset + 1 : offset + 1 + num_tokens]).reshape(batch_size, -1)
    for i in range(0, num_steps * (Xs.shape[1] // num_steps), num_steps):
        yield Xs[:, i : i + num_steps], Ys[:, i : i + num_steps]
