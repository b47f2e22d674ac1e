"""A bounded record of a model's weights over training, for analysing a run at chosen steps (d2l §8.7).

Keeps the weights at step 0 (the initialisation) and then at every `every`-th step; when more than
`cap` are kept, `every` doubles and the steps that are no longer multiples of it are dropped, so the
kept steps stay evenly spread over the whole run however long it trains, and never more than `cap`
(plus one `pinned` copy of the weights at a step asked for, e.g. the latest). Copies are CPU float32.

Memory: one copy holds V·H + H·H + H + H·V + V floats. The cap is lowered so that `cap` copies fit
MAX_BYTES (40 MB): the book's char-RNN at H=512 with V=28 letters is 1.2 MB a copy, 24 copies 28 MB;
a 2,000-token vocabulary at H=512 is 9.3 MB a copy, so 4 are kept.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import torch

from .model import CharRNN

MAX_SNAPSHOTS = 24
MIN_SNAPSHOTS = 2
MAX_BYTES = 40 * 2**20


@dataclass(frozen=True)
class Snapshot:
    """The weights after `step` optimizer steps, with where training stood then."""

    step: int
    epoch: float  # fractional: epochs done plus the share of the current one
    perplexity: float  # the trainer's reported perplexity at that point (NaN before any step)
    params: dict[str, torch.Tensor] = field(repr=False)  # name -> CPU float32 copy

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.params.values())

    def meta(self) -> dict[str, float]:
        return {"step": self.step, "epoch": self.epoch, "perplexity": self.perplexity}


def copy_params(named: Iterable[tuple[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return {n: p.detach().to("cpu", torch.float32, copy=True) for n, p in named}


def cap_for(bytes_per_copy: int, cap: int = MAX_SNAPSHOTS, max_bytes: int = MAX_BYTES) -> int:
    """How many copies of this size to keep: at most `cap`, within `max_bytes`, at least MIN_SNAPSHOTS."""
    return max(MIN_SNAPSHOTS, min(cap, max_bytes // max(bytes_per_copy, 1)))


class Snapshots:
    """The kept weights of one run, by step. Not thread-safe by itself: the Trainer's lock guards it."""

    def __init__(self, cap: int = MAX_SNAPSHOTS) -> None:
        if cap < MIN_SNAPSHOTS:
            raise ValueError(f"cap must be at least {MIN_SNAPSHOTS} (got {cap})")
        self.cap = cap
        self.every = 1
        self._kept: dict[int, Snapshot] = {}
        self.pinned: Snapshot | None = None

    def due(self, step: int) -> bool:
        return step % self.every == 0

    def add(self, snap: Snapshot) -> None:
        """Keep this snapshot (the caller checked `due`); thin by doubling `every` while over the cap."""
        self._kept[snap.step] = snap
        while len(self._kept) > self.cap:
            self.every *= 2
            self._kept = {s: v for s, v in self._kept.items() if s % self.every == 0}

    def pin(self, snap: Snapshot) -> None:
        """Keep one extra copy at a step of the caller's choosing (replacing the previous one): it stays
        when thinning drops that step from the evenly spread ones."""
        self.pinned = snap

    def steps(self) -> list[int]:
        return sorted({*self._kept, *([self.pinned.step] if self.pinned else [])})

    def get(self, step: int) -> Snapshot | None:
        if step in self._kept:
            return self._kept[step]
        return self.pinned if self.pinned is not None and self.pinned.step == step else None

    def all(self) -> list[Snapshot]:
        return [s for s in (self.get(step) for step in self.steps()) if s is not None]

    @property
    def nbytes(self) -> int:
        return sum(s.nbytes for s in self.all())


class KeepsWeights:
    """Reading a run's kept weights (`self.weights`, a Snapshots, under `self.lock`) while another thread
    trains it: what the Gradient lab asks of a run. The Trainer takes a snapshot (`_take_snapshot`)."""

    def snapshots(self) -> list[tuple[int, dict[str, float]]]:
        """The steps whose weights are kept, oldest first, each with (step, epoch, perplexity)."""
        with self.lock:
            return [(s.step, s.meta()) for s in self.weights.all()]

    def pin_snapshot(self) -> int:
        """Keep a copy of the weights as they are now (one such copy per run); returns its step."""
        with self.lock:
            self.weights.pin(self._take_snapshot())
            return self.step_count

    def snapshot_model(self, step: int) -> CharRNN:
        """A CPU CharRNN holding the weights kept at `step`; KeyError when that step is not kept."""
        with self.lock:
            snap = self.weights.get(int(step))
            if snap is None:
                raise KeyError(f"no weights kept at step {step}; kept: {self.weights.steps()}")
            model = CharRNN(self.model.vocab_size, self.model.num_hiddens)
            model.load_state_dict(snap.params)
            return model
