"""The runs of one dashboard session, and the pure helpers the pages use around them (no Streamlit).

A session keeps a few runs side by side ("full vs regular vs randomized" is three runs and one glance),
each with the settings it was started with. The registry is capped, because a shared public host has
one or two cores and under 3 GB for all visitors: the oldest finished run goes first.

The helpers keep widget values inside the bounds of `bptt.config.FIELDS` (a widget must never be handed
a value it would refuse), turn a URL into a config without ever raising, and format a run for export.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .config import FIELDS, RunConfig, from_mapping
from .truncation import Full, Regular

MAX_RUNS = 8  # runs kept per session; each holds a model, an optimizer and its history


# ---------------------------------------------------------------------------------------------------
# Runs
# ---------------------------------------------------------------------------------------------------


@dataclass
class Run:
    """One training run: its settings, its trainer, and whether the user stopped it."""

    id: int  # 1, 2, ... in the order the session started them
    name: str  # e.g. "#2 randomized (π=0.9)"
    cfg: RunConfig
    trainer: Any  # a bptt.training.Trainer (anything with .status and .done)
    created: float = field(default_factory=time.time)  # seconds since the epoch
    stopped: bool = False  # Stop pressed: the run is kept but never trains again

    @property
    def finished(self) -> bool:
        """True when the run will not train again (finished, diverged or stopped)."""
        return self.stopped or bool(self.trainer.done)

    @property
    def status(self) -> str:
        """ready / running / finished / diverged, or 'stopped'."""
        if self.stopped and not self.trainer.done:
            return "stopped"
        return self.trainer.status


class RunRegistry:
    """The runs of one session, oldest first, at most `cap` of them."""

    def __init__(self, cap: int = MAX_RUNS) -> None:
        if cap < 1:
            raise ValueError(f"cap must be at least 1 (got {cap})")
        self.cap = cap
        self._runs: dict[int, Run] = {}  # insertion order = creation order
        self._next_id = 1

    def add(self, cfg: RunConfig, trainer: Any) -> tuple[Run, list[Run]]:
        """Register a new run; returns it and the runs dropped to stay within the cap.

        The oldest finished run is dropped first; only when every run is still live does the oldest one
        go, so the cap holds whatever happens."""
        run = Run(
            id=self._next_id, name=f"#{self._next_id} {cfg.describe_truncation()}", cfg=cfg, trainer=trainer
        )
        self._next_id += 1
        dropped: list[Run] = []
        while len(self._runs) >= self.cap:
            victim = next((r for r in self._runs.values() if r.finished), None)
            victim = victim or next(iter(self._runs.values()))
            dropped.append(self._runs.pop(victim.id))
        self._runs[run.id] = run
        return run, dropped

    def get(self, run_id: int | None) -> Run | None:
        return self._runs.get(run_id) if run_id is not None else None

    def remove(self, run_id: int) -> Run | None:
        """Forget a run; returns it, or None when there was no such run."""
        return self._runs.pop(run_id, None)

    def clear(self) -> None:
        """Forget every run (the numbering goes on, so names stay unique within the session)."""
        self._runs.clear()

    def list(self) -> list[Run]:
        """The runs, oldest first."""
        return list(self._runs.values())

    def ids(self) -> list[int]:
        return list(self._runs)

    def __len__(self) -> int:
        return len(self._runs)

    def __contains__(self, run_id: object) -> bool:
        return run_id in self._runs


def summary(runs: list[Run]) -> pd.DataFrame:
    """One row per run for a table: name, status, steps, epoch, perplexity, tokens/s, created."""
    rows = []
    for r in runs:
        t = r.trainer
        rows.append({
            "run": r.name,
            "status": r.status,
            "step": t.step_count,
            "epoch": f"{t.epoch}/{r.cfg.epochs}",
            "perplexity": round(t.perplexity(), 3) if math.isfinite(t.perplexity()) else None,
            "tokens/s (mean)": round(t.tokens / t.wall_time) if t.wall_time > 0 else None,
            "corpus": t.corpus.name,
            "started": time.strftime("%H:%M:%S", time.localtime(r.created)),
        })  # fmt: skip
    return pd.DataFrame(rows)


def metrics_csv(trainer: Any) -> str:
    """The per-step history of a run as CSV (one row per minibatch)."""
    frame, _, _ = trainer.snapshot()
    return frame.to_csv(index=False)


def settings_json(run: Run) -> str:
    """A run's settings as JSON; `from_mapping` (or the URL) reads them back."""
    return json.dumps(
        {"name": run.name, "corpus_name": run.trainer.corpus.name, "settings": run.cfg.to_dict()}, indent=2
    )


def config_diff(old: RunConfig, new: RunConfig) -> list[str]:
    """The settings that differ, as 'name: old → new'."""
    a, b = old.to_dict(), new.to_dict()
    return [f"{k}: {a[k]} → {b[k]}" for k in a if a[k] != b[k]]


# ---------------------------------------------------------------------------------------------------
# Settings: widget bounds, clamping, the URL (one mechanism: bptt.config.from_mapping)
# ---------------------------------------------------------------------------------------------------


def widget_range(name: str) -> tuple[int | float, int | float]:
    """(min, max) a widget offers for a numeric field: FIELDS' bounds, an open lower bound nudged in."""
    f = FIELDS[name]
    if f.kind is str:
        raise ValueError(f"{name} is not numeric")
    return f.bounds


def config_from_values(values: Mapping[str, Any]) -> tuple[RunConfig, list[str]]:
    """A valid RunConfig from widget values or a shared link's query: clamped into the widgets' bounds,
    junk replaced by the default, cross-field bounds applied, with a note on each change. Never raises."""
    return from_mapping({k: v for k, v in values.items() if k in FIELDS})


# ---------------------------------------------------------------------------------------------------
# The book's three-row figure (d2l §8.7.1.4), for one window
# ---------------------------------------------------------------------------------------------------


def segmentation_rows(cfg: RunConfig, xi: np.ndarray) -> dict[str, np.ndarray]:
    """Rows for `charts.segmentation_strip`: this run's gates xi (T,), then regular (k) and full over the
    same window for comparison; a comparison row that repeats this run's own strategy is left out."""
    xi = np.asarray(xi, dtype=np.float64).ravel()
    T = len(xi)
    rows = {f"this run: {cfg.describe_truncation()}": xi}
    if cfg.truncation != "regular":
        rows[f"regular (k={cfg.k})"] = Regular(cfg.k).gates(1, T)[:, 0].numpy()
    if cfg.truncation != "full":
        rows["full"] = Full().gates(1, T)[:, 0].numpy()
    return rows
