"""BPTT Lab: backpropagation through time as in *Dive into Deep Learning* §8.7, made runnable.

    import bptt
    model = bptt.CharRNN(vocab_size, num_hiddens)
    grads = bptt.estimate_gradient(model, X, Y, bptt.Randomized(bptt.ConstantPi(0.9)))

The library imports no UI: the CLI (`python -m bptt`), the tests, notebooks and the dashboard share it.
"""

from .config import BOOK_EXPERIMENT, PRESETS, QUICK_LOOK, ConfigError, RunConfig, from_mapping
from .corpora import CorpusUnavailable, load_corpus
from .data import Corpus, CorpusError, Vocab
from .model import CharRNN
from .training import Trainer
from .truncation import (
    ARTBPPi,
    ConstantPi,
    Full,
    LinearPi,
    Randomized,
    Regular,
    Strategy,
    estimate_gradient,
    survival,
)

__all__ = [
    "ARTBPPi", "BOOK_EXPERIMENT", "CharRNN", "ConfigError", "ConstantPi", "Corpus", "CorpusError",
    "CorpusUnavailable", "Full", "LinearPi", "PRESETS", "QUICK_LOOK", "Randomized", "Regular", "RunConfig",
    "Trainer", "Vocab", "Strategy", "estimate_gradient", "from_mapping", "load_corpus", "survival",
]  # fmt: skip
