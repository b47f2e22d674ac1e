"""One truncation strategy of d2l §8.7.1 as a value: parsed from one grammar, spelled as one key, titled
in the reader's language, and built into its gates (bptt/truncation/gates.py).

The grammar, read by the CLI (`train`, `compare --strategies`, `gradlab --strategy`), Compare's picker
and the results files' keys:

    full               full BPTT within each window, the state detached between windows: the book's
                       train_ch8, which is regular truncation at τ = num_steps (d2l §8.7.1.2)
    stream             full computation over the whole sequence (d2l §8.7.1.1): never detached, capped
                       (bptt/truncation/stream.py); sequential partitioning only
    regular:K          regular truncation, a cut every K steps (d2l §8.7.1.2)
    randomized:PI      randomized truncation with a constant pi_t = PI in (0, 1] (d2l §8.7.1.3)
    linear:PI:PI_END   randomized, pi_t linear in t from PI at the window's start to PI_END at its end
    artbp:ALPHA:T0     randomized with ARTBP's hazard c_T = ALPHA / ((ALPHA - 1) T0 + T) (Tallec &
                       Ollivier 2017): ALPHA first, then T0, always both (`artbp:50` is refused)

A Strategy is also what a RunConfig's truncation fields name (`of_config` / `config_fields`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..i18n import _

# kind -> the names of its numbers, in the order the grammar writes them
PARAMS: dict[str, tuple[str, ...]] = {
    "full": (),
    "stream": (),
    "regular": ("k",),
    "randomized": ("pi",),
    "linear": ("pi", "pi_end"),
    "artbp": ("alpha", "t0"),
}
GRAMMAR = "full, stream, regular:K, randomized:PI, linear:PI:PI_END, artbp:ALPHA:T0"
# RunConfig's schedule for each randomized kind
SCHEDULES = {"randomized": "constant", "linear": "linear", "artbp": "artbp"}


def _number(x: float | int) -> str:
    """The shortest spelling that reads back as the same number: 0.9, 50 (not 50.0), 0.123456789."""
    short = format(x, "g")
    return short if float(short) == x else repr(float(x))


@dataclass(frozen=True)
class Strategy:
    """A truncation strategy: its kind (a key of PARAMS) and the numbers that kind takes (others None)."""

    kind: str
    k: int | None = None
    pi: float | None = None
    pi_end: float | None = None
    alpha: float | None = None
    t0: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in PARAMS:
            raise ValueError(
                _("unknown strategy kind {kind!r}: use {grammar}").format(kind=self.kind, grammar=GRAMMAR)
            )
        for name in ("k", "pi", "pi_end", "alpha", "t0"):
            value = getattr(self, name)
            if (value is None) == (name in PARAMS[self.kind]):
                raise ValueError(
                    _("{kind} takes {params}").format(
                        kind=self.kind, params=", ".join(PARAMS[self.kind]) or "-"
                    )
                )
            if name == "k":
                if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                    raise ValueError(
                        _("k must be a whole number >= 1 (got {value})").format(value=repr(value))
                    )
            elif value is not None:
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                    raise ValueError(
                        _("{name} must be a finite number (got {value})").format(name=name, value=repr(value))
                    )
                object.__setattr__(self, name, float(value))
        self._check_values()

    def _check_values(self) -> None:
        for name in ("pi", "pi_end"):
            value = getattr(self, name)
            if value is not None and not 0 < value <= 1:
                raise ValueError(
                    _("{name} must be in (0, 1] (got {value})").format(name=name, value=_number(value))
                )
        if self.kind == "artbp":
            a, t0 = self.alpha, self.t0
            if not (a > 1 and t0 > 0 and a < (a - 1) * t0 + 1):  # pi > 0 at every lag (ARTBPPi)
                raise ValueError(
                    _("ARTBP needs α > 1, T0 > 0 and α < (α − 1) T0 + 1 (got α = {alpha}, T0 = {t0})").format(
                        alpha=_number(a), t0=_number(t0)
                    )
                )

    # ------------------------------------------------------------------------------------------------
    # The grammar and the key

    @classmethod
    def parse(cls, text: str) -> Strategy:
        """The strategy `text` spells in the grammar above (any case, spaces around it ignored);
        ValueError with a message that names the grammar otherwise."""
        if not isinstance(text, str):
            raise ValueError(
                _("a strategy is text such as {grammar} (got {text})").format(
                    grammar=GRAMMAR, text=repr(text)
                )
            )
        kind, *args = text.strip().lower().split(":")
        names = PARAMS.get(kind)
        if kind == "artbp" and len(args) == 1:
            raise ValueError(
                _(
                    "{text!r}: ARTBP takes two numbers, artbp:ALPHA:T0 (e.g. artbp:3:50 for α = 3, T0 = 50)"
                ).format(text=text)
            )
        if names is None or len(args) != len(names):
            raise ValueError(_("unknown strategy {text!r}: use {grammar}").format(text=text, grammar=GRAMMAR))
        values: dict[str, Any] = {}
        for name, arg in zip(names, args, strict=True):
            try:
                values[name] = int(arg) if name == "k" else float(arg)
            except ValueError:
                raise ValueError(
                    (
                        _("{text!r}: k must be a whole number (got {arg!r}); use {grammar}")
                        if name == "k"
                        else _("{text!r}: {name} must be a number (got {arg!r}); use {grammar}")
                    ).format(text=text, name=name, arg=arg, grammar=GRAMMAR)
                ) from None
        return cls(kind, **values)

    @property
    def key(self) -> str:
        """The canonical spelling, a stable data key: 'full', 'regular:5', 'randomized:0.9',
        'linear:0.9:0.5', 'artbp:3:50'. `Strategy.parse(s.key) == s` for every strategy."""
        return ":".join([self.kind, *(str(getattr(self, n)) if n == "k" else _number(getattr(self, n))
                                      for n in PARAMS[self.kind])])  # fmt: skip

    def __str__(self) -> str:
        return self.key

    # ------------------------------------------------------------------------------------------------
    # What a reader sees

    def title(self) -> str:
        """The strategy in the book's words and the current language: 'regular (k=4)' (常规截断（k=4）),
        'randomized (ARTBP α=3, T0=50)'. A caller that stores it keeps the language of that moment."""
        if self.kind == "regular":
            return _("regular (k={k})").format(k=self.k)
        if self.kind == "randomized":
            return _("randomized (π={pi})").format(pi=_number(self.pi))
        if self.kind == "artbp":
            return _("randomized (ARTBP α={alpha}, T0={t0})").format(
                alpha=_number(self.alpha), t0=_number(self.t0)
            )
        if self.kind == "linear":
            return _("randomized (π {start}→{end})").format(start=_number(self.pi), end=_number(self.pi_end))
        if self.kind == "stream":
            return _("full over the whole sequence")
        return _("full within each window")

    @staticmethod
    def title_of(key: str) -> str:
        """The title of a strategy written in the grammar (a data key, or what a reader typed into a
        picker); text that is not a strategy is shown as it is, for the picker's error to explain."""
        try:
            return Strategy.parse(key).title()
        except ValueError:
            return str(key)

    @property
    def value(self) -> float:
        """The number a sweep over this kind varies: k, pi (constant or at the start), T0; 0 for full."""
        return {"regular": self.k, "randomized": self.pi, "linear": self.pi, "artbp": self.t0}.get(
            self.kind, 0
        )

    @property
    def random(self) -> bool:
        """Whether the gates are drawn (every kind but full and regular)."""
        return self.kind in SCHEDULES

    # ------------------------------------------------------------------------------------------------
    # The gates and the run settings

    def gates(self, num_steps: int):
        """The gate maker of bptt/truncation/gates.py for windows of num_steps (the linear schedule runs
        over the window): `.gates(batch_size, num_steps, generator)` gives xi (T, B)."""
        from .gates import ARTBPPi, ConstantPi, Full, LinearPi, Randomized, Regular

        # stream: the gates within its window; the windows before it are bptt/truncation/stream.py's
        if self.kind in ("full", "stream"):
            return Full()
        if self.kind == "regular":
            return Regular(self.k)
        if self.kind == "randomized":
            return Randomized(ConstantPi(self.pi))
        if self.kind == "artbp":
            return Randomized(ARTBPPi(self.alpha, self.t0))
        return Randomized(LinearPi(self.pi, self.pi_end, num_steps))

    def config_fields(self) -> dict[str, Any]:
        """The RunConfig fields that name this strategy (the others keep their values)."""
        if self.kind in ("full", "regular"):
            return {"truncation": self.kind, **({"k": self.k} if self.kind == "regular" else {})}
        if self.kind == "stream":  # a stream needs sequential partitioning (d2l §8.3.4.2)
            return {"truncation": "stream", "sampler": "sequential"}
        return {"truncation": "randomized", "schedule": SCHEDULES[self.kind],
                **{n: getattr(self, n) for n in PARAMS[self.kind]}}  # fmt: skip

    @classmethod
    def of_config(cls, cfg) -> Strategy:
        """The strategy a RunConfig's truncation fields name (its other fields play no part)."""
        if cfg.truncation in ("full", "stream"):
            return cls(cfg.truncation)
        if cfg.truncation == "regular":
            return cls("regular", k=cfg.k)
        kind = {v: k for k, v in SCHEDULES.items()}[cfg.schedule]
        return cls(kind, **{n: getattr(cfg, n) for n in PARAMS[kind]})
