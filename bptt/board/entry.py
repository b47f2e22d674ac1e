"""What one post on a class board holds, and the bounds every board keeps.

A post is a student's name, the run's settings, its final perplexity and its perplexity curve thinned to
at most `Limits.curve_points` points: nothing else (no text, no weights). Everything is validated here,
once, for posting and for reading back, so a board's page never meets a value it cannot draw.
"""

from __future__ import annotations

import json
import math
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..config import ConfigError, RunConfig
from ..i18n import _


class BoardError(ValueError):
    """A board request that cannot be served; `message` says why, in the language of the request."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Limits:
    """The bounds of one server's boards (a shared host: a class of 60 fits many times over)."""

    posts_per_board: int = 200  # posts one board accepts; one more is refused
    boards: int = 500  # live boards per server (expired ones do not count)
    post_bytes: int = 16_384  # one post's stored JSON and name, UTF-8 (the largest valid run fits: tested)
    curve_points: int = 100  # points of a post's curve (first and last kept)
    name_chars: int = 40  # a student's name
    title_chars: int = 80  # a board's title
    ttl_days: float = 14.0  # a board and its posts are gone this long after it was created

    @property
    def ttl_seconds(self) -> float:
        return self.ttl_days * 86_400.0


def clean_text(text: object, limit: int, what: str, required: bool = True) -> str:
    """A name or title as stored: a string, trimmed, without control characters, at most `limit`
    characters. Kept as plain text (pages show it as text, charts escape it)."""
    if not isinstance(text, str):
        raise BoardError(_("{what} must be text.").format(what=what))
    text = text.strip()
    if required and not text:
        raise BoardError(_("{what} is empty.").format(what=what))
    if len(text) > limit:
        raise BoardError(
            _("{what} is too long: {n} characters, at most {limit}.").format(
                what=what, n=len(text), limit=limit
            )
        )
    if any(unicodedata.category(c) in ("Cc", "Cf", "Cs") for c in text):
        raise BoardError(_("{what} contains control characters.").format(what=what))
    return text


@dataclass(frozen=True)
class Entry:
    """One post's content."""

    name: str  # the student's name as typed (plain text)
    settings: RunConfig  # the run's settings (d2l §8.7's num_steps, truncation, k, pi, ...)
    perplexity: float  # the run's final perplexity, exp(mean cross-entropy) of its last epoch (d2l §8.4.4)
    curve: tuple[tuple[float, float], ...]  # (tokens seen, perplexity) per kept epoch, tokens increasing

    def to_json(self) -> str:
        """The stored form of everything but the name (a column of its own)."""
        body = {"settings": self.settings.to_dict(), "perplexity": self.perplexity, "curve": self.curve}
        return json.dumps(body, separators=(",", ":"), allow_nan=False)

    @classmethod
    def from_json(cls, name: str, payload: str, limits: Limits) -> Entry:
        """Read a stored post back, validated as when it was posted."""
        try:
            body = json.loads(payload)
            return validate(name, body["settings"], body["perplexity"], body["curve"], limits)
        except (ValueError, KeyError, TypeError) as e:
            raise BoardError(_("A stored post is unreadable: {why}").format(why=e)) from e


def _settings(settings: RunConfig | Mapping[str, Any]) -> RunConfig:
    if isinstance(settings, RunConfig):
        return settings
    if not isinstance(settings, Mapping):
        raise BoardError(_("The run's settings are missing."))
    try:
        return RunConfig(**dict(settings))
    except ConfigError as e:
        raise BoardError(_("The run's settings are invalid: {why}").format(why=e)) from e
    except TypeError as e:  # a name RunConfig does not have
        raise BoardError(_("The run's settings are invalid: {why}").format(why=e)) from e


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise BoardError(_("A post's numbers must be finite (got {value}).").format(value=repr(value)[:40]))
    return float(value)


def validate(
    name: object,
    settings: RunConfig | Mapping[str, Any],
    perplexity: object,
    curve: Sequence[Sequence[float]],
    limits: Limits,
) -> Entry:
    """An Entry from untrusted parts, or BoardError saying what is wrong."""
    name = clean_text(name, limits.name_chars, _("The name"))
    cfg = _settings(settings)
    ppl = _number(perplexity)
    if ppl < 1.0:  # exp of a cross-entropy, which is never negative
        raise BoardError(_("A perplexity is at least 1 (got {value}).").format(value=f"{ppl:g}"))
    if not isinstance(curve, (list, tuple)) or not curve:
        raise BoardError(_("The run has no perplexity curve."))
    if len(curve) > limits.curve_points:
        raise BoardError(
            _("The curve has {n} points, at most {limit}.").format(n=len(curve), limit=limits.curve_points)
        )
    points = []
    for point in curve:
        if not isinstance(point, (list, tuple)) or len(point) != 2:
            raise BoardError(_("A curve point must be a (tokens, perplexity) pair."))
        points.append((_number(point[0]), _number(point[1])))
    if any(b[0] < a[0] for a, b in zip(points, points[1:])):
        raise BoardError(_("The curve's tokens must not decrease."))
    entry = Entry(name, cfg, ppl, tuple(points))
    size = len(entry.to_json().encode()) + len(name.encode())
    if size > limits.post_bytes:
        raise BoardError(
            _("The post takes {n} bytes, at most {limit}.").format(
                n=f"{size:,}", limit=f"{limits.post_bytes:,}"
            )
        )
    return entry


def thin(n: int, m: int) -> np.ndarray:
    """At most m evenly spaced indices of range(n), the first and the last included."""
    if n <= m:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, max(m, 2)).round().astype(int))


def entry_from_history(
    name: str,
    cfg: RunConfig,
    tokens: Sequence[float],
    perplexities: Sequence[float],
    limits: Limits | None = None,
) -> Entry:
    """A post from a finished run: its per-epoch (tokens seen, perplexity) history, thinned to the
    board's curve points; the final perplexity is the last epoch's, as the book reports it."""
    limits = limits or Limits()
    tokens, perplexities = np.asarray(tokens, float), np.asarray(perplexities, float)
    if len(tokens) != len(perplexities) or len(tokens) == 0:
        raise BoardError(_("The run has no perplexity curve."))
    idx = thin(len(tokens), limits.curve_points)
    curve = [(float(tokens[i]), float(perplexities[i])) for i in idx]
    return validate(name, cfg, float(perplexities[-1]), curve, limits)
