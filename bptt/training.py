"""A trainer that advances one minibatch per `step()` (d2l §8.5's train_ch8, unrolled for a live UI).

A Trainer is time-sliced work (bptt/slices.py): the dashboard's training workers (bptt/hosting/workers.py)
call `run_for(seconds)`, so training can pause, resume and be inspected between any two minibatches.
Each step returns a record; the history keeps them as columns. The lock keeps a page reading the history
and the stepping thread apart.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import torch

from .config import RunConfig
from .data import (
    Corpus,
    check_trainable,
    num_batches,
    seq_data_iter_random,
    seq_data_iter_sequential,
    tokenize,
)
from .history import COLUMNS, History, perplexity
from .i18n import N_, _
from .model import CharRNN, resolve_device
from .slices import TimeSliced
from .snapshots import KeepsWeights, Snapshot, Snapshots, cap_for, copy_params
from .truncation import Strategy, bptt
from .truncation.stream import Stream

# A loss above 100 nats per token (perplexity e^100) means training has blown up: chance level is ln V,
# at most ln 2000 = 7.6 here. Stopping there keeps the run's weights and charts meaningful.
DIVERGED_LOSS = 100.0
# How often a training thread writes the text a page asked for (writes()): the live panel redraws once a
# second; the book's 50 characters cost a few ms, under 1 % of a second's training.
SAMPLE_SECONDS = 1.0


class Trainer(KeepsWeights, TimeSliced):
    """Trains a CharRNN on a corpus with one truncation strategy, one minibatch per `step()`.

    status: 'ready' -> 'running' -> 'finished', or 'diverged' when the loss or gradient stops being
    finite (the update is not applied: the last good weights and the whole history stay).
    """

    def __init__(self, cfg: RunConfig, corpus: Corpus, *, spectral_every: int = 10) -> None:
        super().__init__()
        check_trainable(len(corpus), cfg.batch_size, cfg.num_steps, cfg.sampler)
        self.cfg, self.corpus, self.spectral_every = cfg, corpus, spectral_every
        self.device = resolve_device(cfg.device)
        init = torch.Generator().manual_seed(cfg.seed)
        self.model = CharRNN(len(corpus.vocab), cfg.num_hiddens, device=self.device, generator=init)
        self.strategy = Strategy.of_config(cfg).gates(cfg.num_steps)  # the gate maker
        self.stream = Stream() if cfg.truncation == "stream" else None  # d2l §8.7.1.1 over the stream
        self.rng = np.random.default_rng(cfg.seed)  # sampler offsets and shuffles
        self.gate_generator = torch.Generator().manual_seed(cfg.seed + 1)  # the xi_t draws
        params = list(self.model.parameters())
        if cfg.optimizer == "sgd":
            self.optimizer = torch.optim.SGD(params, lr=cfg.lr)
        else:
            self.optimizer = torch.optim.Adam(params, lr=cfg.lr)
        self._backup = [p.detach().clone() for p in params]  # last good weights
        self.history = History()
        self.status = "ready"
        # The message as (message id, arguments) parts, formatted with _() when read (`message`), so a
        # reader who switches language after the run ended reads it in the new language.
        self._message: list[tuple[str, dict[str, Any]]] = []
        self.epoch, self.step_count, self.tokens, self.wall_time = 0, 0, 0, 0.0
        self.batches_per_epoch = num_batches(len(corpus), cfg.batch_size, cfg.num_steps, cfg.sampler)
        self._batch_in_epoch = 0
        self._batches: Iterator | None = None
        self._state: torch.Tensor | None = None
        self._epoch_loss, self._epoch_tokens = 0.0, 0
        self.last_window: dict[str, Any] | None = None  # X (B, T) and xi (T, B) of the latest step
        # writes(): what a page asked the model to write, and the latest answer ((request, text), when)
        self._sample_request: tuple[str, int, float] | None = None
        self._sample: tuple[tuple[str, int, float], int, str] | None = None  # (request, step, text)
        self._sample_at = -math.inf
        first = self._take_snapshot()  # step 0: the initialisation
        self.weights = Snapshots(cap_for(first.nbytes))
        self.weights.add(first)

    # -- progress ------------------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        return self.status in ("finished", "diverged")

    @property
    def batch_in_epoch(self) -> int:
        """Minibatches trained so far in the current epoch (1 right after an epoch's first step)."""
        return self._batch_in_epoch

    def epoch_so_far_perplexity(self) -> float:
        """exp(mean cross-entropy) over the current epoch's minibatches so far; NaN before its first."""
        return perplexity(self._epoch_loss / self._epoch_tokens) if self._epoch_tokens else math.nan

    @property
    def progress(self) -> float:
        """Fraction of the run done, in [0, 1]."""
        if self.status == "finished":
            return 1.0
        per_epoch = max(self.batches_per_epoch, 1)
        return min(1.0, (self.epoch + self._batch_in_epoch / per_epoch) / self.cfg.epochs)

    # -- training ------------------------------------------------------------------------------------
    def _next_batch(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The next minibatch, starting a new epoch when one runs out; None when all epochs are done."""
        while True:
            if self._batches is None:
                if self.epoch >= self.cfg.epochs:
                    return None
                sampler = (
                    seq_data_iter_sequential if self.cfg.sampler == "sequential" else seq_data_iter_random
                )
                self._batches = sampler(self.corpus.corpus, self.cfg.batch_size, self.cfg.num_steps, self.rng)
                self._state, self._batch_in_epoch = None, 0  # d2l: state initialised at each epoch's start
                self._epoch_loss, self._epoch_tokens = 0.0, 0
            batch = next(self._batches, None)
            if batch is not None:
                return batch
            self._end_epoch()

    def _end_epoch(self) -> None:
        self.epoch += 1
        self._batches = None
        if self._epoch_tokens:
            ppl = perplexity(self._epoch_loss / self._epoch_tokens)
            self.history.end_epoch(
                {"epoch": self.epoch, "perplexity": ppl, "tokens": self.tokens, "wall_time": self.wall_time}
            )

    def _step(self) -> dict[str, Any] | None:
        """Train on one minibatch (the lock held) and return its record; None when done or diverged."""
        if self.done:
            return None
        batch = self._next_batch()
        if batch is None:
            self.status = "finished"
            self._release()
            self._message = [(N_("Finished {epochs} epochs."), {"epochs": self.cfg.epochs})]
            return None
        self.status = "running"
        start = time.perf_counter()
        update = self._update(*batch)
        if update is None:
            return None
        record = self._record(update, start)
        self.history.append(record)
        if self.weights.due(self.step_count):
            self.weights.add(self._take_snapshot())
        request = self._sample_request  # a page is waiting for a fresher text (writes())
        if request is not None and time.perf_counter() - self._sample_at >= SAMPLE_SECONDS:
            self._predict(request)
            self._sample_request = None  # answered: the page asks again when it wants a newer one
        return record

    def _update(self, X: torch.Tensor, Y: torch.Tensor) -> dict[str, Any] | None:
        """One minibatch's update: the gated BPTT gradient, the clipped global norm, the divergence
        guard, the optimizer step and the state carried to the next window. None when it diverged (the
        weights are put back and nothing is counted)."""
        state = None if self.cfg.sampler == "random" else self._state  # random sampling: fresh state
        if self.stream is not None:  # backpropagated through every window since the stream began
            out = self.stream.step(self.model, X, Y, fresh=self._state is None)
        else:
            out = bptt(
                self.model, X, Y, self.strategy.gates(X.shape[0], X.shape[1], self.gate_generator), state
            )
        params = dict(self.model.named_parameters())
        for name, g in out.grads.items():
            params[name].grad = g
        # Per-parameter norms of the raw gradient, then the global norm, clipped at theta when on (the
        # book clips the global L2 norm at theta = 1, d2l §8.5.5). clip_grad_norm_ returns the norm
        # before clipping.
        norms = {f"norm_{n}": float(torch.linalg.vector_norm(g)) for n, g in out.grads.items()}
        theta = self.cfg.clip if self.cfg.clip > 0 else math.inf
        grad_norm = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), theta))
        if not (math.isfinite(out.loss) and math.isfinite(grad_norm) and out.loss < DIVERGED_LOSS):
            why = N_("The loss became {loss} (gradient norm {norm}) at step {step}.")
            return self._diverge(why, loss=f"{out.loss:g}", norm=f"{grad_norm:g}", step=self.step_count + 1)
        torch._foreach_copy_(self._backup, [p.detach() for p in self.model.parameters()])
        self.optimizer.step()
        if not all(bool(torch.isfinite(p).all()) for p in self.model.parameters()):
            return self._diverge(N_("The weights overflowed at step {step}."), step=self.step_count + 1)
        self._state = out.state  # carried to the next window, with no graph: the detach is a cut
        return {"X": X, "out": out, "norms": norms, "grad_norm": grad_norm, "theta": theta}

    def _record(self, update: dict[str, Any], start: float) -> dict[str, Any]:
        """Count the step and return its metrics: one row of the history (COLUMNS), plus ||dL/dh_t||
        and the cuts. `start` is when the step began (perf_counter): its time includes the update's."""
        X, out, grad_norm, theta = update["X"], update["out"], update["grad_norm"], update["theta"]
        B, T = X.shape
        self.step_count += 1
        self._batch_in_epoch += 1
        self.tokens += B * T
        self._epoch_loss += out.loss * B * T
        self._epoch_tokens += B * T
        spectral = math.nan
        if self.step_count == 1 or self.step_count % self.spectral_every == 0:
            spectral = float(torch.linalg.matrix_norm(self.model.W_hh.detach(), ord=2))
        elapsed = time.perf_counter() - start
        self.wall_time += elapsed
        self.last_window = {"X": X.cpu(), "xi": out.xi.float()}
        clipped = grad_norm > theta
        return {
            "step": self.step_count,
            "epoch": self.epoch + self._batch_in_epoch / max(self.batches_per_epoch, 1),
            "tokens": self.tokens,
            "loss": out.loss,
            "perplexity": perplexity(out.loss),
            "grad_norm": grad_norm,
            "grad_norm_clipped": theta if clipped else grad_norm,
            "clipped": clipped,
            "norm_b_h": 0.0,
            "norm_b_q": 0.0,
            **update["norms"],
            "cut_fraction": float((out.xi[1:] == 0).float().mean()) if T > 1 else 0.0,
            "spectral_norm": spectral,
            "wall_time": self.wall_time,
            "tokens_per_sec": B * T / elapsed,
            # A copy, not a view: a view keeps the whole tensor's allocation alive, and thousands of them in
            # the history would pin the heap around the large per-step buffers.
            "dh_norms": out.dh_norms.float().cpu().numpy().copy(),
            "cuts": (out.xi == 0).cpu(),  # (T, B): where the gradient was cut, the window boundary included
            **(self.stream.last if self.stream is not None else {}),
        }

    @property
    def message(self) -> str:
        """Why the run stopped ('' while it runs), in the current language."""
        return " ".join(_(msgid).format(**args) for msgid, args in self._message)

    def _diverge(self, why: str, **args: Any) -> None:
        """Stop, and put back the weights of the last step whose loss was sound: the weights that gave
        this bad loss came out of the previous update, and `_backup` holds those from before it."""
        with torch.no_grad():
            torch._foreach_copy_(list(self.model.parameters()), self._backup)
        for p in self.model.parameters():
            p.grad = None
        self.status = "diverged"
        self._release()
        stopped = N_(
            "Training stopped: try a smaller learning rate or turn clipping on. "
            "The weights and the history up to step {step} are kept."
        )
        self._message = [(why, args), (stopped, {"step": self.step_count})]
        return None

    def _release(self) -> None:
        """A finished, diverged or stopped run keeps no stream graph (bptt/truncation/stream.py)."""
        if self.stream is not None:
            self.stream.restart()

    def release(self) -> None:
        """_release() for a run stopped from outside, after the step in flight."""
        with self.lock:
            self._release()

    def run(self, callback=None) -> None:
        """Train to the end; `callback(record)` after each step (the CLI prints progress with it)."""
        while not self.done:
            rec = self.step()
            if rec is not None and callback is not None:
                callback(rec)

    def _take_snapshot(self) -> Snapshot:
        # Between two epochs (after the last one, say) no epoch is in progress: `_batch_in_epoch` still
        # counts the finished one's batches.
        within = self._batch_in_epoch if self._batches is not None else 0
        epoch = self.epoch + within / max(self.batches_per_epoch, 1)
        return Snapshot(self.step_count, epoch, self.perplexity(), copy_params(self.model.named_parameters()))

    def nbytes(self, at_end: bool = False) -> int:
        """Bytes the run's own objects hold (weights, gradients, last good weights, optimizer state,
        snapshots, history); `at_end`: once every epoch is trained, with the snapshots at their cap and
        a pinned copy (an upper bound while it trains, what bptt/hosting/runs.py's budget counts)."""
        with self.lock:
            params = sum(p.numel() * p.element_size() for p in self.model.parameters())
            state = [v for s in self.optimizer.state.values() for v in s.values() if torch.is_tensor(v)]
            # a step: a float (24 B) and its slot per column, ||dL/dh_t|| (T float32, 112-B header, slot)
            per_step = 32 * len(COLUMNS) + 120 + 4 * self.cfg.num_steps
            now = sum(t.numel() * t.element_size() for t in state) + self.weights.nbytes
            now += params * (2 + any(p.grad is not None for p in self.model.parameters()))  # + _backup
            now += len(self.history) * per_step
            now += self.stream.bytes if self.stream is not None else 0  # freed when the run ends
            if not at_end or self.done:
                return now
            steps = self.cfg.epochs * self.batches_per_epoch
            adam = 2 * params if self.cfg.optimizer == "adam" else 0
            end = params * (3 + self.weights.cap + 1) + adam + steps * per_step
            return max(now, end)

    # -- reading, safe while another thread trains (the kept weights: snapshots.KeepsWeights) ----------
    def snapshot(self) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
        """Copies of (per-step history, (steps, T) ||dL/dh_t|| matrix, per-epoch history), taken under
        the history's lock (never half-written), without waiting for the step in flight."""
        return self.history.copy()

    def perplexity(self) -> float:
        """The last completed epoch's perplexity, exp(mean cross-entropy) as the book reports it; before
        the first epoch ends, that of the epoch so far."""
        e = self.history.epochs["perplexity"]
        if e:
            return e[-1]
        return self.epoch_so_far_perplexity()

    def predict(self, prefix: str = "time traveller", num_preds: int = 50, temperature: float = 0.0) -> str:
        """Greedy (temperature 0) or sampled continuation of `prefix` (d2l's predict_ch8)."""
        with self.lock:
            return self._predict((prefix, num_preds, temperature))

    def writes(self, prefix: str = "time traveller", num_preds: int = 50, temperature: float = 0.0) -> str:
        """What the model writes after `prefix`, for a page that must not wait for the step in flight: the
        kept text when it is of this step or under SAMPLE_SECONDS old; else computed now if no step holds
        the lock; else the stepping thread writes it after its step, and '' is returned until it has."""
        request = (prefix, num_preds, temperature)
        kept = self._sample
        fresh = kept is not None and (
            kept[1] == self.step_count or time.perf_counter() - self._sample_at < SAMPLE_SECONDS
        )
        if fresh and kept[0] == request:
            return kept[2]
        if self.lock.acquire(blocking=False):
            try:
                return self._predict(request)
            finally:
                self.lock.release()
        self._sample_request = request
        return kept[2] if kept is not None and kept[0] == request else ""

    def _predict(self, request: tuple[str, int, float]) -> str:
        """predict() with the lock held; the result is kept for writes()."""
        prefix, num_preds, temperature = request
        gen = torch.Generator().manual_seed(self.cfg.seed + self.step_count)
        text = self.model.predict(
            prefix, num_preds, self.corpus.vocab,
            tokenize=lambda s: tokenize(s, self.cfg.tokenizer), temperature=temperature, generator=gen,
        )  # fmt: skip
        self._sample, self._sample_at = (request, self.step_count, text), time.perf_counter()
        return text
