"""A run's records: per-step metrics as growing columns, and per-epoch perplexity (d2l §8.4.4, §8.5).

The trainer (bptt/training.py) appends one record a step from its training thread; a page copies them
from another thread while the next step trains.
"""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np
import pandas as pd

from .truncation.stream import Stream

# Scalar columns of the history, in order; `dh_norms` (one row of T values per step) is kept apart.
COLUMNS = (
    "step", "epoch", "tokens", "loss", "perplexity", "grad_norm", "grad_norm_clipped", "clipped",
    "norm_W_xh", "norm_W_hh", "norm_b_h", "norm_W_hq", "norm_b_q", "cut_fraction", "spectral_norm",
    "wall_time", "tokens_per_sec",
)  # fmt: skip


def perplexity(mean_loss: float) -> float:
    """exp(mean cross-entropy) (d2l §8.4.4); inf rather than an OverflowError for a diverging loss."""
    return math.exp(mean_loss) if mean_loss < 709.0 else math.inf


class History:
    """Per-step metrics as growing columns (not a list of dicts): compact and cheap to copy. Its own lock
    is held only to append a record or to copy the columns, so a page reads it without waiting for the
    step in flight (the trainer's lock is held for a whole step)."""

    def __init__(self) -> None:
        self.columns: dict[str, list[float]] = {c: [] for c in COLUMNS}
        self.dh_norms: list[np.ndarray] = []  # per step: (T,) ||dL/dh_t||
        self.stream: dict[str, list[float]] = {}  # Stream.COLUMNS, for a run over the whole sequence
        self.epochs: dict[str, list[float]] = {"epoch": [], "perplexity": [], "tokens": [], "wall_time": []}
        self.lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.columns["step"])

    def append(self, record: dict[str, Any]) -> None:
        with self.lock:
            for c in COLUMNS:
                self.columns[c].append(record[c])
            self.dh_norms.append(record["dh_norms"])
            for c in Stream.COLUMNS if "held_steps" in record else ():
                self.stream.setdefault(c, []).append(record[c])

    def end_epoch(self, row: dict[str, float]) -> None:
        with self.lock:
            for c, v in row.items():
                self.epochs[c].append(v)

    def copy(self) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
        """(per-step frame, (steps, T) ||dL/dh_t|| matrix, per-epoch frame), all three of the same moment;
        the lock is held only to copy the lists, the frames are built outside it."""
        with self.lock:
            columns = {c: list(v) for c, v in {**self.columns, **self.stream}.items()}
            dh, epochs = list(self.dh_norms), {c: list(v) for c, v in self.epochs.items()}
        dh = np.stack(dh) if dh else np.zeros((0, 0), dtype=np.float32)  # (0, 0) before the first step
        return pd.DataFrame(columns), dh, pd.DataFrame(epochs)

    def frame(self) -> pd.DataFrame:
        return self.copy()[0]

    def dh_matrix(self) -> np.ndarray:
        return self.copy()[1]

    def epoch_frame(self) -> pd.DataFrame:
        return self.copy()[2]
