"""The runs of one dashboard session (no Streamlit).

A session keeps a few runs side by side ("full vs regular vs randomized" is three runs and one glance),
each with the settings it was started with. The registry is bounded in bytes (and in runs, for the
curves' sake), because a shared public host has one or two cores and under 3 GB for all visitors: the
oldest finished run goes first.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..config import RunConfig
from ..corpora import corpus_title
from ..i18n import N_, _
from ..truncation import Strategy

MAX_RUNS = 8  # runs kept per session: more curves than one chart can tell apart
# The bytes a session's runs may hold, each counted at its end (Trainer.nbytes(at_end=True)). Community
# Cloud gives a whole class under 3 GB, and a replica holds about 450 MB with a page training
# (benchmarks/results/capacity.json); the resident memory of a kept run is about twice its own objects'
# bytes (allocator slack, same file). 64 MiB holds the book's comparison (three runs at H = 256, about
# 11.6 MB each at their end) with room to spare, or one run at H = 512 (about 34 MB); 20 sessions at the
# full budget take about 2.5 GB resident.
SESSION_BYTES = 64 * 2**20
# A run's status (Run.status) as a page names it: translate with _(run.status)
STATUS_LABELS = (N_("ready"), N_("running"), N_("finished"), N_("diverged"), N_("stopped"), N_("paused"))
# A run worsened when its last epoch's perplexity is more than this fraction above the best epoch's: well
# above the epoch-to-epoch jitter of a converging run, well below a run that has begun to blow up.
WORSENED_MARGIN = 0.10


@dataclass(frozen=True)
class Worsening:
    """Why a finished run reads as worse than it was: its best and its last epoch's perplexity."""

    best: float  # the lowest epoch perplexity of the run
    best_epoch: int  # the epoch (1, 2, ...) where it was reached
    final: float  # the last epoch's perplexity: above best * (1 + margin), or not finite


def worsening(epoch_perplexities, margin: float = WORSENED_MARGIN) -> Worsening | None:
    """The run's epochs (perplexity per epoch, d2l §8.4.4) ended worse than their best: the last one is
    not finite, or above (1 + margin) times the lowest. None when the run ended at (or near) its best, or
    has no epoch yet."""
    ppl = [float(p) for p in epoch_perplexities]
    if not ppl:
        return None
    finite = [(p, e) for e, p in enumerate(ppl, start=1) if math.isfinite(p)]
    if not finite:
        return Worsening(math.nan, 0, ppl[-1])
    best, best_epoch = min(finite)
    final = ppl[-1]
    if math.isfinite(final) and final <= best * (1.0 + margin):
        return None
    return Worsening(best, best_epoch, final)


@dataclass
class Run:
    """One training run: its settings, its trainer, and whether the user stopped it."""

    id: int  # 1, 2, ... in the order the session started them
    cfg: RunConfig
    trainer: Any  # a bptt.training.Trainer (anything with .status and .done)
    created: float = field(default_factory=time.time)  # seconds since the epoch
    stopped: bool = False  # Stop pressed: the run is kept but never trains again

    @property
    def name(self) -> str:
        """The run's number and truncation in the book's notation, in the current language, e.g.
        "#2 randomized (π=0.9)" or "#2 随机截断（π=0.9）": built when shown, so a page switched to
        another language mid-run names its runs in that language."""
        return f"#{self.id} {Strategy.of_config(self.cfg).title()}"

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if name == "stopped" and value and hasattr(self.trainer, "release"):
            self.trainer.release()  # a stopped run never trains again: it keeps no stream graph

    @property
    def finished(self) -> bool:
        """True when the run will not train again (finished, diverged or stopped)."""
        return self.stopped or bool(self.trainer.done)

    def run_for(self, seconds: float) -> list[dict[str, Any]]:
        """Train for about `seconds`, at least one step (what the workers call, bptt/hosting/workers.py)."""
        return self.trainer.run_for(seconds, wait=True)  # a page copying the history holds the lock a moment

    def interrupt(self) -> None:
        """A step loop in another thread returns after its current step."""
        self.trainer.interrupt()

    @property
    def nbytes(self) -> int:
        """The bytes the run will hold at most: a finished or stopped run what it holds now, a run that
        can still train what it will hold at its end (0 for a trainer that does not count them)."""
        count = getattr(self.trainer, "nbytes", None)
        return 0 if count is None else int(count(at_end=not self.finished))

    @property
    def status(self) -> str:
        """ready / running / finished / diverged, or 'stopped'."""
        if self.stopped and not self.trainer.done:
            return "stopped"
        return self.trainer.status


class RunRegistry:
    """The runs of one session, oldest first: at most `cap` of them, holding at most `budget` bytes
    (Run.nbytes) unless the newest alone holds more."""

    def __init__(self, cap: int = MAX_RUNS, budget: int = SESSION_BYTES) -> None:
        if cap < 1:
            raise ValueError(f"cap must be at least 1 (got {cap})")
        self.cap, self.budget = cap, budget
        self._runs: dict[int, Run] = {}  # insertion order = creation order
        self._next_id = 1

    def add(self, cfg: RunConfig, trainer: Any, kind: type[Run] = Run) -> tuple[Run, list[Run]]:
        """Register a new run (of `kind`: a Run, or a subclass such as a replay); returns it and the runs
        dropped to stay within the cap and the byte budget.

        The new run is always kept. The oldest finished run is dropped first; only when every other run
        is still live does the oldest one go, so the bounds hold whatever happens. A run that alone holds
        more than the budget is kept alone (`alone_over_budget` says so): the budget bounds what a
        session adds to its runs, and one run's own size is bounded by the settings' limits
        (bptt/config.py) and the snapshots' (bptt/snapshots.py)."""
        run = kind(id=self._next_id, cfg=cfg, trainer=trainer)
        self._next_id += 1
        dropped: list[Run] = []
        while self._runs and (len(self._runs) >= self.cap or self.nbytes() + run.nbytes > self.budget):
            victim = next((r for r in self._runs.values() if r.finished), None)
            victim = victim or next(iter(self._runs.values()))
            dropped.append(self._runs.pop(victim.id))
        self._runs[run.id] = run
        return run, dropped

    def nbytes(self) -> int:
        """The bytes the kept runs will hold at most (Run.nbytes)."""
        return sum(r.nbytes for r in self._runs.values())

    def notices(self, run: Run, dropped: list[Run]) -> list[str]:
        """What the page tells the visitor after `add`: each run dropped, and a new run that alone holds
        more than the budget; in the current language."""
        mb = self.budget / 2**20
        out = [
            _(
                "Dropped {name} to stay within this session's memory: at most {cap} runs and {mb:.0f} MB."
            ).format(name=r.name, cap=self.cap, mb=mb)
            for r in dropped
        ]
        if run.nbytes > self.budget:
            out.append(
                _(
                    "{name} will hold about {size:.0f} MB, more than a session's {mb:.0f} MB: it is kept, "
                    "and no other run with it."
                ).format(name=run.name, size=run.nbytes / 2**20, mb=mb)
            )
        return out

    @property
    def next_id(self) -> int:
        """The id the next added run will get."""
        return self._next_id

    def get(self, run_id: int | None) -> Run | None:
        return self._runs.get(run_id) if run_id is not None else None

    def remove(self, run_id: int) -> Run | None:
        """Forget a run; returns it, or None when there was no such run."""
        return self._runs.pop(run_id, None)

    def clear(self) -> None:
        """Forget every run (the numbering goes on, so names stay unique within the session)."""
        self._runs.clear()

    def release(self) -> None:
        """The session is gone (bptt/hosting/sessions.py): forget its runs."""
        self.clear()

    def list(self) -> list[Run]:
        """The runs, oldest first."""
        return list(self._runs.values())

    def ids(self) -> list[int]:
        return list(self._runs)

    def __len__(self) -> int:
        return len(self._runs)

    def __contains__(self, run_id: object) -> bool:
        return run_id in self._runs


def shown_status(run: Run) -> str:
    """The run's status for a table, untranslated: 'worsened' for a finished run that ended above its
    best perplexity (`worsening`)."""
    if run.status == "finished" and worsening(run.trainer.history.epochs["perplexity"]) is not None:
        return N_("worsened")
    return run.status


SUMMARY_COLUMNS = {
    "run": N_("run"),
    "status": N_("status"),
    "step": N_("step"),
    "epoch": N_("epoch"),
    "perplexity": N_("perplexity"),
    "tokens/s (mean)": N_("tokens/s (mean)"),
    "corpus": N_("corpus"),
    "started": N_("started"),
}


def summary(runs: list[Run]) -> pd.DataFrame:
    """One row per run for the page's table: name, status, steps, epoch, perplexity, tokens/s, corpus,
    start time; headers, names and status in the current language (a table to read, not an export)."""
    rows = []
    for r in runs:
        t = r.trainer
        rows.append({
            "run": r.name,
            "status": _(shown_status(r)),
            "step": t.step_count,
            "epoch": f"{t.epoch}/{r.cfg.epochs}",
            "perplexity": round(t.perplexity(), 3) if math.isfinite(t.perplexity()) else None,
            "tokens/s (mean)": round(t.tokens / t.wall_time) if t.wall_time > 0 else None,
            "corpus": corpus_title(t.corpus.name),
            "started": time.strftime("%H:%M:%S", time.localtime(r.created)),
        })  # fmt: skip
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS)).rename(
        columns={k: _(v) for k, v in SUMMARY_COLUMNS.items()}
    )
