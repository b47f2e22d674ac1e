"""Recorded runs (no Streamlit): what a recording holds and how it is written and read.

A recording (`python -m bptt train ... --record PATH`) keeps every record the live panel draws: the
trainer's per-step history (d2l §8.5's loss and perplexity, the gradient norms before and after
clipping, the spectral norm of W_hh, speed, wall time), the (steps, T) matrix of ||∂L/∂h_t|| (§8.7),
the per-epoch perplexity, the first row of each step's window with its gates ξ_t (§8.7.1), the greedy
text the model wrote after each epoch, and the settings. It is one compressed .npz file read with
`np.load(..., allow_pickle=False)`: plain arrays, never pickled objects; the metadata is a JSON string
inside it.

Column types. Counters are int32 (`step`, `tokens`: a run has at most 20 M tokens); `epoch`, `wall_time`
and `tokens_per_sec` are float32 (a fractional epoch up to 2,000 and speeds above 65,504 need more
than float16's 11 bits and range); every other float column, and ||∂L/∂h_t||, is float16 when each of
its finite non-zero values lies in float16's normal range (relative rounding at most 2⁻¹¹), else
float32. The shipped recordings (bptt/results/replays/) are made by benchmarks/record_replays.py.
"""

from __future__ import annotations

import datetime
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..config import RunConfig
from ..corpora import load_corpus
from ..history import COLUMNS
from ..i18n import N_, _
from ..snapshots import copy_params
from ..training import Trainer

FORMAT = 1  # the recording format's version, in its metadata
INT32 = ("step", "tokens")
FLOAT32 = ("epoch", "wall_time", "tokens_per_sec")
BOOL = ("clipped",)
EPOCH_COLUMNS = ("epoch", "perplexity", "tokens", "wall_time")
F16_MIN, F16_MAX = float(np.finfo(np.float16).tiny), float(np.finfo(np.float16).max)
SPEEDS = (1.0, 10.0, 100.0, math.inf)  # the page's choices; inf: the whole run at once
MAX_FILE_BYTES = 20_000_000  # a recording is read whole: bound what a file can make us allocate


class ReplayError(ValueError):
    """A file that is not a readable recording; the message says why."""


def compact(values: Any) -> np.ndarray:
    """float16 when every finite non-zero value is in its normal range, else float32."""
    a = np.asarray(values, dtype=np.float64)
    finite = np.abs(a[np.isfinite(a) & (a != 0)])
    fits = finite.size == 0 or (finite.min() >= F16_MIN and finite.max() <= F16_MAX)
    return a.astype(np.float16 if fits else np.float32)


def column_array(name: str, values: Any) -> np.ndarray:
    if name in INT32:
        return np.asarray(values, dtype=np.int32)
    if name in FLOAT32:
        return np.asarray(values, dtype=np.float32)
    if name in BOOL:
        return np.asarray(values, dtype=bool)
    return compact(values)


class Recorder:
    """Collects, after each step, what the history does not keep: the first row of the window and its
    gates, and the greedy text after each epoch (d2l's predict_ch8 with the prefix)."""

    def __init__(self, trainer: Trainer, prefix: str, num_preds: int = 50) -> None:
        self.trainer, self.prefix, self.num_preds = trainer, prefix, num_preds
        self.window_x: list[np.ndarray] = []
        self.window_xi: list[np.ndarray] = []
        self.sample_steps: list[int] = [0]
        self.samples: list[str] = [trainer.predict(prefix, num_preds)]  # the initialisation's text
        self._epochs = 0

    def __call__(self, record: dict[str, Any]) -> None:
        t = self.trainer
        self.window_x.append(t.last_window["X"][0].numpy().copy())
        self.window_xi.append(t.last_window["xi"][:, 0].numpy().copy())
        if len(t.history.epochs["epoch"]) > self._epochs:  # an epoch ended before this step
            self._epochs = len(t.history.epochs["epoch"])
            self.sample_steps.append(t.step_count - 1)
            self.samples.append(t.predict(self.prefix, self.num_preds))

    def finish(self) -> None:
        """The text at the end of the run (after the last epoch, which no later step reveals)."""
        t = self.trainer
        if self.sample_steps[-1] != t.step_count:
            self.sample_steps.append(t.step_count)
            self.samples.append(t.predict(self.prefix, self.num_preds))


def write_recording(path: Path, trainer: Trainer, recorder: Recorder, *, corpus_label: str) -> int:
    """Write the run as a compressed .npz; returns its size in bytes."""
    h = trainer.history
    arrays: dict[str, np.ndarray] = {f"h_{c}": column_array(c, h.columns[c]) for c in COLUMNS}
    arrays["dh"] = compact(h.dh_matrix())
    arrays.update({f"e_{c}": column_array(c, h.epochs[c]) for c in EPOCH_COLUMNS})
    arrays["e_perplexity"] = np.asarray(h.epochs["perplexity"], dtype=np.float32)
    vocab = trainer.corpus.vocab.idx_to_token
    T = trainer.cfg.num_steps
    x = np.stack(recorder.window_x) if recorder.window_x else np.zeros((0, T))
    arrays["window_x"] = x.astype(np.uint8 if len(vocab) <= 256 else np.uint16)
    xi = np.stack(recorder.window_xi) if recorder.window_xi else np.zeros((0, T))
    arrays["window_xi"] = compact(xi)
    arrays["sample_steps"] = np.asarray(recorder.sample_steps, dtype=np.int32)
    arrays["samples"] = np.asarray(recorder.samples, dtype=np.str_)
    meta = {
        "format": FORMAT,
        "settings": trainer.cfg.to_dict(),
        "strategy": strategy_key(trainer.cfg),
        "corpus_name": trainer.corpus.name,
        "corpus_label": corpus_label,
        "vocab": vocab,
        "prefix": recorder.prefix,
        "status": trainer.status,
        "message": [[msgid, args] for msgid, args in trainer._message],
        "perplexity": trainer.perplexity(),
        "steps": trainer.step_count,
        "device": str(trainer.device),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    for name, p in copy_params(trainer.model.named_parameters()).items():
        arrays[f"w_{name}"] = p.numpy()  # float32: the Gradient lab analyses exactly the trained weights
    arrays["meta"] = np.asarray(json.dumps(meta))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        np.savez_compressed(f, **arrays)
    return path.stat().st_size


def strategy_key(cfg: RunConfig) -> str:
    """The strategy as `python -m bptt compare` names it: full, stream, regular:K, randomized:PI,
    artbp:A:T0, linear:PI:PI_END."""
    if cfg.truncation == "regular":
        return f"regular:{cfg.k}"
    if cfg.truncation == "randomized":
        if cfg.schedule == "artbp":
            return f"artbp:{cfg.alpha:g}:{cfg.t0:g}"
        if cfg.schedule == "linear":
            return f"linear:{cfg.pi:g}:{cfg.pi_end:g}"
        return f"randomized:{cfg.pi:g}"
    return cfg.truncation  # full (within each window) or stream (over the whole sequence)


@dataclass
class Recording:
    """A recording as read back: the history and epoch frames, the ∂L/∂h_t matrix, the windows, the
    texts and the metadata."""

    meta: dict[str, Any]
    frame: pd.DataFrame
    dh: np.ndarray
    epochs: pd.DataFrame
    window_x: np.ndarray
    window_xi: np.ndarray
    sample_steps: np.ndarray
    samples: list[str]
    weights: dict[str, np.ndarray]  # the final weights, by parameter name
    cfg: RunConfig = field(init=False)

    def __post_init__(self) -> None:
        self.cfg = RunConfig(**self.meta["settings"])

    def __len__(self) -> int:
        return len(self.frame)


def read_recording(path: Path) -> Recording:
    """Read a recording; ReplayError when the file is not one (never unpickles anything)."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ReplayError(_("{name} is larger than a recording can be.").format(name=path.name))
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            frame = pd.DataFrame({c: z[f"h_{c}"].astype(_read_type(c)) for c in COLUMNS})
            epochs = pd.DataFrame({c: z[f"e_{c}"].astype(_read_type(c)) for c in EPOCH_COLUMNS})
            rec = Recording(
                meta=meta,
                frame=frame,
                dh=z["dh"].astype(np.float32),
                epochs=epochs,
                window_x=z["window_x"].astype(np.int64),
                window_xi=z["window_xi"].astype(np.float32),
                sample_steps=z["sample_steps"].astype(np.int64),
                samples=[str(s) for s in z["samples"]],
                weights={k[2:]: z[k].astype(np.float32) for k in z.files if k.startswith("w_")},
            )
    except ReplayError:
        raise
    except Exception as e:  # OSError, BadZipFile, KeyError, ValueError, ConfigError ...
        raise ReplayError(
            _("{name} is not a readable recording ({error}).").format(name=path.name, error=type(e).__name__)
        ) from e
    n = len(rec.frame)
    if not (len(rec.dh) == len(rec.window_x) == len(rec.window_xi) == n) or meta.get("format") != FORMAT:
        raise ReplayError(
            _("{name} is not a readable recording (its parts disagree).").format(name=path.name)
        )
    return rec


def _read_type(column: str) -> type:
    return {"step": np.int64, "tokens": np.int64, "clipped": bool}.get(column, np.float64)


class _Vocab:
    """The recording's vocabulary, for reading the window's tokens (d2l §8.2's Vocab.to_tokens)."""

    def __init__(self, idx_to_token: list[str]) -> None:
        self.idx_to_token = list(idx_to_token)

    def __len__(self) -> int:
        return len(self.idx_to_token)

    def to_tokens(self, indices) -> list[str]:
        return [self.idx_to_token[int(i)] for i in indices]


class _Corpus:
    """The recording's corpus: its name and vocabulary from the file; its tokens (what the Gradient lab
    draws a minibatch from) read again from the built-in corpus it names, whose vocabulary must match."""

    def __init__(self, name: str, vocab: _Vocab, cfg: RunConfig) -> None:
        self.name, self.vocab, self._cfg, self._tokens = name, vocab, cfg, None

    @property
    def corpus(self) -> list[int]:
        if self._tokens is None:
            cfg = self._cfg
            if cfg.corpus not in ("time_machine", "bundled"):
                raise ReplayError(_("This recording's text is not built in, so it cannot be read again."))
            text = load_corpus(
                cfg.corpus, tokenizer=cfg.tokenizer, max_tokens=cfg.max_tokens, max_vocab=cfg.max_vocab
            )
            if text.vocab.idx_to_token != self.vocab.idx_to_token:
                raise ReplayError(_("The built-in text has changed since this recording was made."))
            self._tokens = text.corpus
        return self._tokens

    def __len__(self) -> int:
        return len(self.corpus)


# -- the shipped recordings ---------------------------------------------------------------------------
REPLAY_DIR = Path(__file__).resolve().parent.parent / "results" / "replays"
# The shipped recordings by file name, with the preset they come from (a message id). Made by
# benchmarks/record_replays.py.
SHIPPED: dict[str, tuple[str, dict[str, Any]]] = {
    "book-full": (N_("The book's experiment"), {"truncation": "full"}),
    "book-regular-k5": (N_("The book's experiment"), {"truncation": "regular", "k": 5}),
    "book-regular-k10": (N_("The book's experiment"), {"truncation": "regular", "k": 10}),
    "book-randomized-pi0.9": (N_("The book's experiment"), {"truncation": "randomized", "pi": 0.9}),
    "book-artbp": (N_("The book's experiment"), {"truncation": "randomized", "schedule": "artbp"}),
    "quick-full": (N_("Quick look"), {"truncation": "full"}),
}


def shipped() -> list[str]:
    """The shipped recordings present, in SHIPPED's order."""
    return [key for key in SHIPPED if (REPLAY_DIR / f"{key}.npz").is_file()]


_cache: dict[str, Recording] = {}


def load_shipped(key: str) -> Recording:
    """A shipped recording, read once per process (its arrays are shared read-only by every replay)."""
    if key not in SHIPPED:
        raise ReplayError(_("There is no recording named {key}.").format(key=key))
    if key not in _cache:
        _cache[key] = read_recording(REPLAY_DIR / f"{key}.npz")
    return _cache[key]
