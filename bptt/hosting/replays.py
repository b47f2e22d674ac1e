"""Replays of recorded runs on the training page, at no training cost (no Streamlit).

A `Replay` gives a recording (bptt/hosting/recordings.py) the read interface of a
`bptt.training.Trainer` (what pages/ui/panel.py reads: snapshot(), step_count, epoch, perplexity(),
predict(), last_window, progress, device, status, message): plain indexing into the arrays, at the step
the recorded wall time has reached after speed × the seconds since the replay began.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np
import pandas as pd
import torch

from ..history import perplexity
from ..i18n import _
from ..model import CharRNN
from ..truncation import Strategy
from .recordings import Recording, _Corpus, _Vocab
from .runs import Run


class Replay:
    """A recording played as if it trained now: at `speed` × the seconds since it began (on `clock`),
    the steps whose recorded wall time has passed are shown; math.inf shows the whole run at once.
    Every reading is plain indexing into the recording; nothing is trained."""

    def __init__(self, rec: Recording, speed: float = 1.0, clock: Callable[[], float] = time.monotonic):
        self.rec, self.cfg, self.clock = rec, rec.cfg, clock
        self.corpus = _Corpus(rec.meta["corpus_name"], _Vocab(rec.meta["vocab"]), rec.cfg)
        self.batches_per_epoch = 0
        self._wall = rec.frame["wall_time"].to_numpy()
        self._epoch_tokens = rec.epochs["tokens"].to_numpy()
        self._start, self._base, self._speed = clock(), 0.0, 1.0
        self.speed = speed

    # -- playing -------------------------------------------------------------------------------------
    @property
    def speed(self) -> float:
        return self._speed

    @speed.setter
    def speed(self, value: float) -> None:
        """A new speed from where the replay is now (the recorded seconds already played stay)."""
        value = float(value)
        if not value > 0:
            raise ValueError(f"speed must be positive (got {value})")
        self._base, self._start, self._speed = self.played_seconds(), self.clock(), value

    def played_seconds(self) -> float:
        """The recorded training seconds played so far."""
        if math.isinf(self._speed):
            return math.inf
        return self._base + self._speed * max(0.0, self.clock() - self._start)

    def restart(self) -> None:
        self._base, self._start = 0.0, self.clock()

    def _n(self) -> int:
        """How many recorded steps are shown: those whose wall time has been played."""
        return int(np.searchsorted(self._wall, self.played_seconds(), side="right"))

    # -- the Trainer's read interface ----------------------------------------------------------------
    @property
    def device(self) -> str:
        return _("{device}, recorded").format(device=self.rec.meta.get("device", "cpu"))

    @property
    def step_count(self) -> int:
        return self._n()

    @property
    def done(self) -> bool:
        return self._n() >= len(self.rec)

    @property
    def status(self) -> str:
        return self.rec.meta["status"] if self.done else "running"

    @property
    def message(self) -> str:
        if not self.done:
            return ""
        return " ".join(_(msgid).format(**args) for msgid, args in self.rec.meta["message"])

    def _row(self) -> int | None:
        n = self._n()
        return n - 1 if n > 0 else None

    @property
    def tokens(self) -> int:
        row = self._row()
        return 0 if row is None else int(self.rec.frame["tokens"].iat[row])

    @property
    def wall_time(self) -> float:
        row = self._row()
        return 0.0 if row is None else float(self._wall[row])

    @property
    def epoch(self) -> int:
        """Completed epochs, counted as the trainer counts them: an epoch ends when the next step begins
        (or the run ends)."""
        if self.done:
            return len(self._epoch_tokens)
        return int(np.searchsorted(self._epoch_tokens, self.tokens, side="left"))

    @property
    def progress(self) -> float:
        if self.done:
            return 1.0
        row = self._row()
        return 0.0 if row is None else min(1.0, float(self.rec.frame["epoch"].iat[row]) / self.cfg.epochs)

    def perplexity(self) -> float:
        """As Trainer.perplexity: the last completed epoch's, else that of the epoch so far."""
        done = self.epoch
        if done:
            return float(self.rec.epochs["perplexity"].iat[done - 1])
        n = self._n()
        return perplexity(float(self.rec.frame["loss"].iloc[:n].mean())) if n else math.nan

    @property
    def last_window(self) -> dict[str, torch.Tensor] | None:
        """The first row of the latest step's window, as X (1, T) and ξ (T, 1)."""
        row = self._row()
        if row is None:
            return None
        return {
            "X": torch.from_numpy(self.rec.window_x[row][None, :].copy()),
            "xi": torch.from_numpy(self.rec.window_xi[row][:, None].copy()),
        }

    def snapshot(self) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
        n = self._n()
        epochs = self.rec.epochs.iloc[: self.epoch].reset_index(drop=True)
        return self.rec.frame.iloc[:n].reset_index(drop=True), self.rec.dh[:n], epochs

    def sample(self) -> tuple[int, str]:
        """(step, text): the latest greedy text recorded at or before the step shown."""
        i = max(0, int(np.searchsorted(self.rec.sample_steps, self._n(), side="right")) - 1)
        return int(self.rec.sample_steps[i]), self.rec.samples[i]

    def predict(self, prefix: str = "time traveller", num_preds: int = 50, temperature: float = 0.0) -> str:
        """The recorded greedy text for the recorded prefix; a replay has no model to write from
        another prefix or at another temperature, and says so."""
        step, text = self.sample()
        recorded = self.rec.meta["prefix"]
        if prefix == recorded and temperature == 0:
            return text
        return _(
            "A replay keeps only what the model wrote when it was recorded: after “{prefix}”, greedy, at "
            "step {step}: {text}"
        ).format(prefix=recorded, step=step, text=text)

    writes = predict  # the live panel's reading (bptt.training.Trainer.writes): nothing to wait for here

    # -- weights: a recording keeps only the final ones -----------------------------------------------
    def _final(self) -> tuple[int, dict[str, float]]:
        steps = len(self.rec)
        epoch = float(self.rec.frame["epoch"].iat[-1]) if steps else 0.0
        return steps, {"step": steps, "epoch": epoch, "perplexity": float(self.rec.meta["perplexity"])}

    def snapshots(self) -> list[tuple[int, dict[str, float]]]:
        """The steps whose weights are kept: the recording's last step only."""
        return [self._final()] if self.rec.weights else []

    def snapshot_model(self, step: int) -> CharRNN:
        if not self.rec.weights or int(step) != len(self.rec):
            raise KeyError(f"a replay keeps the weights of its last step only ({len(self.rec)}), not {step}")
        model = CharRNN(len(self.corpus.vocab), self.cfg.num_hiddens)
        model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in self.rec.weights.items()})
        return model

    def pin_snapshot(self) -> int:
        """The step of the kept weights (the last one): what the Gradient lab opens."""
        if not self.rec.weights:
            raise KeyError("this recording keeps no weights")
        return len(self.rec)

    def nbytes(self, at_end: bool = False) -> int:
        """0: a replay's arrays are the process's one copy of its recording (recordings.load_shipped),
        shared read-only by every replay of every session; a replay holds none of its own."""
        return 0

    # -- what a Trainer does and a replay cannot -----------------------------------------------------

    def interrupt(self) -> None:
        """Nothing trains."""

    def run_for(self, seconds: float, max_steps: int | None = None, wait: bool = False) -> list[dict]:
        return []  # nothing trains: the clock plays the recording


class ReplayRun(Run):
    """A replay in the session's runs: named as one, and never trained by the workers."""

    @property
    def name(self) -> str:
        return _("#{id} replay · {strategy}").format(
            id=self.id, strategy=Strategy.of_config(self.cfg).title()
        )

    def advance(self, seconds: float) -> None:
        """Nothing to train."""
