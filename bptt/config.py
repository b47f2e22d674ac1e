"""One run's configuration: a frozen dataclass, validated in one place.

Each setting is declared once, as a field of `RunConfig` whose metadata (`setting(...)`) carries its
bounds, label, help, allowed values and the CLI subcommands that take it as a flag. `FIELDS`, the CLI
flags (bptt/cli/), the URL query string and the dashboard's widgets are all read from there, so a run
can be shared as a link (as TensorFlow Playground does) and every value a visitor can reach is bounded
for a shared public host.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .i18n import N_, _


class ConfigError(ValueError):
    """A setting is out of range or inconsistent; the message says which and why."""


COMMANDS = ("train", "compare", "gradlab")  # the CLI subcommands (bptt/cli/)


def setting(
    default: Any,
    label: str,
    help: str,
    *,
    lo: float | None = None,
    hi: float | None = None,
    choices: Mapping[str, str] | None = None,
    lo_open: bool = False,
    open_step: float = 0.01,
    cli: tuple[str, ...] = COMMANDS,
) -> Any:
    """A RunConfig field with its declaration as metadata: `label` and `help` are English message ids
    (N_), `choices` maps each allowed value to how a widget shows it, `lo`/`hi` bound a number (inclusive;
    `lo_open` excludes lo, and a widget then starts at lo + open_step), `cli` names the subcommands that
    take it as the flag --name-with-dashes."""
    meta = {
        "label": label,
        "help": help,
        "lo": lo,
        "hi": hi,
        "choices": dict(choices or {}),
        "lo_open": lo_open,
        "open_step": open_step,
        "cli": cli,
    }
    return dataclasses.field(default=default, metadata=meta)


@dataclass(frozen=True)
class Field:
    """How one configuration field is bounded, parsed and shown: a view of its RunConfig metadata."""

    name: str
    kind: type  # int, float or str
    label: str  # short label for a widget, in English (the message id); label_text() gives it translated
    help: str  # in English (the message id); help_text() gives it translated
    lo: float | None = None  # inclusive lower bound (numbers)
    hi: float | None = None  # inclusive upper bound (numbers)
    choice_labels: Mapping[str, str] = dataclasses.field(default_factory=dict)  # value -> widget label
    lo_open: bool = False  # True: the lower bound itself is excluded (pi > 0, lr > 0)
    open_step: float = 0.01  # with lo_open: the smallest value offered is lo + open_step
    cli: tuple[str, ...] = COMMANDS  # the subcommands with this flag

    choices = property(lambda self: tuple(self.choice_labels))  # the allowed values

    @property
    def flag(self) -> str:
        """The CLI flag: --num-steps for num_steps. (The URL parameter is the name itself.)"""
        return "--" + self.name.replace("_", "-")

    def label_text(self) -> str:  # in the current language
        return _(self.label)

    def help_text(self) -> str:  # in the current language
        return _(self.help)

    def choice_text(self, value: str) -> str:
        """How a widget shows one allowed value, in the current language (e.g. 'regular' -> 常规截断)."""
        return _(self.choice_labels.get(value, value))

    @property
    def bounds(self) -> tuple[float, float]:
        """(smallest, largest) value a widget offers or a URL is clamped to; ints rounded inwards."""
        if self.kind is str:
            raise ValueError(f"{self.name} is not numeric")
        lo = self.lo + (self.open_step if self.lo_open else 0)
        return (int(math.ceil(lo)), int(self.hi)) if self.kind is int else (float(lo), float(self.hi))


# Bounds for a shared host with one or two cores and under 3 GB (a public host).
MAX_BATCH_TOKENS = 4096  # batch_size * num_steps: bounds the (T, B, H) buffers of one minibatch
MAX_RUN_TOKENS = 20_000_000  # epochs * max_tokens: about four minutes of training on one core
TEXT = ("train", "compare")  # training settings: the gradient lab analyses one minibatch, untrained
NO_STRATEGY = ("train",)  # set per strategy by compare --strategies and gradlab --strategy
LAB = ("train", "gradlab")  # compare sets the seed per run (--seeds)


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a training run. Defaults are the book's experiment (d2l §8.5, §8.7);
    the choices' labels are the book's words (d2l §8.2, §8.3, §8.7.1)."""

    # fmt: off
    corpus: str = setting(
        "time_machine", N_("Corpus"),
        N_("time_machine (the book's), bundled (offline Shakespeare) or upload"),
        choices={"time_machine": N_("The Time Machine (the book's)"),
                 "bundled": N_("Shakespeare (bundled, offline)"), "upload": N_("Upload a .txt file")})
    # the book's preprocessing: letters only, lowercase, character tokens
    tokenizer: str = setting(
        "letters", N_("Tokens"),
        N_("letters: the book's preprocessing (a-z and space); chars: every character (Chinese text)"),
        choices={"letters": N_("letters (the book)"), "chars": N_("every character")}, cli=TEXT)
    max_tokens: int = setting(
        10_000, N_("Max tokens"), N_("keep only the first max_tokens tokens (the book: 10,000)"),
        lo=1_000, hi=200_000)
    max_vocab: int = setting(
        200, N_("Max vocabulary"), N_("chars mode: keep the most frequent N tokens, the rest <unk>"),
        lo=30, hi=2_000, cli=TEXT)
    num_steps: int = setting(
        35, N_("Sequence length (num_steps)"), N_("time steps per minibatch window"), lo=2, hi=200)
    batch_size: int = setting(32, N_("Batch size"), N_("sequences per minibatch"), lo=1, hi=128)
    # H: the book's concise model has 256 hidden units, its from-scratch one 512
    num_hiddens: int = setting(
        256, N_("Hidden units (num_hiddens)"), N_("size of the hidden state h_t"), lo=4, hi=512)
    # "full" within each window of num_steps, the state detached between minibatches, is the book's
    # experiment: its regular truncation at tau = num_steps (d2l §8.7.1.2). "stream" is §8.7.1.1's full
    # computation over the whole sequence (bptt/truncation/stream.py).
    truncation: str = setting(
        "full", N_("Truncation"),
        N_("full within each window or over the whole sequence, regular (cut every k steps) or randomized"),
        choices={"full": N_("full within each window"), "stream": N_("full over the whole sequence"),
                 "regular": N_("regular"), "randomized": N_("randomized")}, cli=NO_STRATEGY)
    # below num_steps, so that regular differs from full
    k: int = setting(
        10, N_("k (regular)"), N_("regular truncation: cut the gradient every k steps"), lo=1, hi=200,
        cli=NO_STRATEGY)
    schedule: str = setting(
        "constant", N_("pi_t schedule"), N_("randomized: constant pi, ARTBP hazard, or linear in t"),
        choices={"constant": N_("constant π"), "artbp": N_("ARTBP (α, T0)"),
                 "linear": N_("linear π, start → end")}, cli=NO_STRATEGY)
    pi: float = setting(
        0.9, "π", N_("constant: P(no cut) per step; linear: pi at the window's start"), lo=0.0, hi=1.0,
        lo_open=True, cli=NO_STRATEGY)
    pi_end: float = setting(
        0.5, N_("π at the window's end"), N_("linear: pi at the window's last step"), lo=0.0, hi=1.0,
        lo_open=True, cli=NO_STRATEGY)
    # Tallec & Ollivier 2017 use alpha = 3, and T0 = 50 with windows longer than the book's
    alpha: float = setting(
        3.0, N_("α (ARTBP)"), N_("ARTBP hazard c_T = alpha / ((alpha-1) T0 + T)"), lo=1.0, hi=10.0,
        lo_open=True, cli=NO_STRATEGY)
    t0: float = setting(
        10.0, N_("T0 (ARTBP)"), N_("ARTBP: the typical segment length scale"), lo=2.0, hi=1_000.0,
        cli=NO_STRATEGY)
    sampler: str = setting(
        "sequential", N_("Sampler"), N_("sequential (state carried, detached) or random (fresh state)"),
        choices={"sequential": N_("sequential partitioning"), "random": N_("random sampling")}, cli=TEXT)
    optimizer: str = setting(
        "sgd", N_("Optimizer"), N_("sgd (the book) or adam"),
        choices={"sgd": N_("SGD (the book)"), "adam": N_("Adam")}, cli=TEXT)
    lr: float = setting(
        1.0, N_("Learning rate"), N_("the book: SGD with lr 1"), lo=0.0, hi=100.0, lo_open=True,
        open_step=1e-5, cli=TEXT)
    clip: float = setting(
        1.0, N_("Clip theta"), N_("clip the global gradient norm at theta (0: off; the book: 1)"),
        lo=0.0, hi=1_000.0, cli=TEXT)
    epochs: int = setting(
        500, N_("Epochs"), N_("passes over the tokens (the book: 500)"), lo=1, hi=2_000, cli=TEXT)
    # seeds the initialisation, the sampler's offsets and the xi_t draws (gradlab: its weights and minibatch)
    seed: int = setting(0, N_("Seed"), N_("same seed, same run"), lo=0, hi=2**31 - 1, cli=LAB)
    device: str = setting(
        "auto", N_("Device"), N_("auto (a GPU when present), cpu or cuda"),
        choices={"auto": N_("auto"), "cpu": N_("CPU"), "cuda": N_("CUDA (GPU)")}, cli=TEXT)
    # fmt: on

    def __post_init__(self) -> None:
        problems = validate(self)
        if problems:
            raise ConfigError("; ".join(problems))

    def replace(self, **changes: Any) -> RunConfig:
        """A copy with some fields changed (validated like any config)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_query(self) -> dict[str, str]:
        """Every field as a string, for `st.query_params` or a URL."""
        return {name: _format(value) for name, value in self.to_dict().items()}


_KINDS = {"str": str, "int": int, "float": float}
# Every setting, in RunConfig's order, read from its metadata (a field without it is no setting).
FIELDS: dict[str, Field] = {
    f.name: Field(f.name, _KINDS[str(f.type)], f.metadata["label"], f.metadata["help"], f.metadata["lo"],
                  f.metadata["hi"], f.metadata["choices"], f.metadata["lo_open"], f.metadata["open_step"],
                  f.metadata["cli"])
    for f in dataclasses.fields(RunConfig)
    if f.metadata
}  # fmt: skip


def _format(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value)  # repr: the shortest exact float


def _check_field(f: Field, value: Any) -> str | None:
    """The problem with one value, or None."""
    if f.kind is str:
        if not isinstance(value, str) or value not in f.choices:
            return _("{name} must be one of {choices} (got {value})").format(
                name=f.name, choices=", ".join(f.choices), value=repr(value)
            )
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return _("{name} must be a number (got {value})").format(name=f.name, value=repr(value))
    if f.kind is int and not isinstance(value, int):
        return _("{name} must be a whole number (got {value})").format(name=f.name, value=repr(value))
    if not math.isfinite(value):
        return _("{name} must be finite (got {value})").format(name=f.name, value=repr(value))
    low_ok = value > f.lo if f.lo_open else value >= f.lo
    if not low_ok or value > f.hi:
        return _("{name} must be in {range} (got {value})").format(
            name=f.name, range=_range(f), value=f"{value:g}"
        )
    return None


def _range(f: Field) -> str:
    return f"{'(' if f.lo_open else '['}{f.lo:g}, {f.hi:g}]"


def validate(cfg: RunConfig) -> list[str]:
    """All problems with a configuration, as sentences (empty when it is valid)."""
    problems = [p for f in FIELDS.values() if (p := _check_field(f, getattr(cfg, f.name))) is not None]
    if problems:
        return problems
    if cfg.batch_size * cfg.num_steps > MAX_BATCH_TOKENS:
        text = _("batch_size x num_steps must be at most {limit} on this host "
                 "(got {batch_size} x {num_steps} = {product})")  # fmt: skip
        product = f"{cfg.batch_size * cfg.num_steps:,}"
        problems.append(text.format(limit=f"{MAX_BATCH_TOKENS:,}", batch_size=cfg.batch_size,
                                    num_steps=cfg.num_steps, product=product))  # fmt: skip
    if cfg.truncation == "stream" and cfg.sampler != "sequential":  # random sampling has no stream (§8.3.4)
        problems.append(_("full over the whole sequence needs sequential partitioning, not random sampling"))
    if cfg.epochs * cfg.max_tokens > MAX_RUN_TOKENS:
        text = _("epochs x max_tokens must be at most {limit} on this host (got {epochs} x {max_tokens})")
        problems.append(text.format(limit=f"{MAX_RUN_TOKENS:,}", epochs=f"{cfg.epochs:,}",
                                    max_tokens=f"{cfg.max_tokens:,}"))  # fmt: skip
    return problems


def _parse(f: Field, raw: Any) -> tuple[Any, bool]:
    """Parse one untrusted value; numbers are clamped into range. Returns (value, whether it was
    adjusted); raises ValueError when nothing usable is there."""
    text = str(raw).strip()
    if f.kind is str:
        value = text.lower()
        if value not in f.choices:
            raise ValueError(f"{f.name}: {raw!r} is not one of {', '.join(f.choices)}")
        return value, False
    number = float(text)  # ValueError for junk
    if not math.isfinite(number):
        raise ValueError(f"{f.name}: {raw!r} is not a finite number")
    lo, hi = f.bounds  # pi = 0, lr = 0: the smallest value offered instead
    value = min(max(number, lo), hi)
    value = int(round(value)) if f.kind is int else float(value)
    return value, value != number


def from_mapping(params: Mapping[str, Any], base: RunConfig | None = None) -> tuple[RunConfig, list[str]]:
    """Build a config from untrusted strings (a URL's query, say): clamp, skip junk, never raise.

    Returns the config and a list of notes on what was clamped or ignored, for the user to see.
    """
    base = base or RunConfig()
    values = base.to_dict()
    notes: list[str] = []
    for name, raw in params.items():
        f = FIELDS.get(name)
        if f is None:
            continue
        if isinstance(raw, (list, tuple)):
            raw = raw[-1] if raw else ""
        if raw is None:
            continue
        try:
            value, adjusted = _parse(f, raw)
        except (ValueError, TypeError, OverflowError):
            notes.append(
                _("ignored {name}={value}: not a valid value").format(name=name, value=repr(str(raw)[:40]))
            )
            continue
        if adjusted:
            notes.append(
                _("{name}={raw} was adjusted to {value} (allowed: {range})").format(
                    name=name, raw=str(raw).strip()[:40], value=_format(value), range=_range(f)
                )
            )
        values[name] = value
    # Cross-field bounds: shrink the batch, then the epochs, rather than refuse the whole link.
    if values["truncation"] == "stream" and values["sampler"] != "sequential":
        notes.append(
            _("sampler set to sequential partitioning: full over the whole sequence follows a stream")
        )
        values["sampler"] = "sequential"
    if values["batch_size"] > (top := batch_size_max(values["num_steps"])):
        text = _("batch_size lowered to {top} so that batch_size × num_steps ≤ {limit}")
        notes.append(text.format(top=top, limit=f"{MAX_BATCH_TOKENS:,}"))
        values["batch_size"] = top
    if values["epochs"] > (top := epochs_max(values["max_tokens"])):
        text = _("epochs lowered to {top} so that epochs × max_tokens ≤ {limit}")
        notes.append(text.format(top=f"{top:,}", limit=f"{MAX_RUN_TOKENS:,}"))
        values["epochs"] = top
    return RunConfig(**values), notes


def batch_size_max(num_steps: int) -> int:
    """The largest batch size with batch_size x num_steps within MAX_BATCH_TOKENS."""
    return max(1, min(int(FIELDS["batch_size"].hi), MAX_BATCH_TOKENS // max(num_steps, 1)))


def epochs_max(max_tokens: int) -> int:
    """The most epochs with epochs x max_tokens within MAX_RUN_TOKENS."""
    return max(1, min(int(FIELDS["epochs"].hi), MAX_RUN_TOKENS // max(max_tokens, 1)))


# The two presets of the dashboard.
BOOK_EXPERIMENT = RunConfig()
# Quick look: Adam at H=128 writes word-like text within seconds on one core (perplexity about 2 after
# 200 epochs, about 6 s of training), where the book's SGD needs ~100 epochs before anything shows.
QUICK_LOOK = RunConfig(num_hiddens=128, optimizer="adam", lr=0.01, epochs=200)
# Keys are English message ids: show them with _(key).
PRESETS: dict[str, RunConfig] = {N_("The book's experiment"): BOOK_EXPERIMENT, N_("Quick look"): QUICK_LOOK}


def config_diff(old: RunConfig, new: RunConfig) -> list[str]:
    """The settings that differ, as 'name: old → new'."""
    a, b = old.to_dict(), new.to_dict()
    return [f"{k}: {a[k]} → {b[k]}" for k in a if a[k] != b[k]]
