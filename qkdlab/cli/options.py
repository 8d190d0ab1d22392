"""Command-line values checked at the edge: ranges and lists of numbers, once, with one clear line.

Every option that takes numbers goes through here, so that a sign, an infinity, a NaN or an
empty range is refused before anything runs, naming the option, the value and what is accepted.
"""

from __future__ import annotations

import math
from typing import Any

import click

__all__ = ["parse_range", "parse_numbers", "FINITE", "NON_NEGATIVE", "PROBABILITY", "POSITIVE", "CONFIDENCE", "TIMEOUT"]


def _number(text: str, option: str, whole: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise click.BadParameter(f"{whole!r}: {text!r} is not a number", param_hint=option) from None
    if not math.isfinite(value):
        raise click.BadParameter(f"{whole!r}: {text!r} is not a finite number", param_hint=option)
    return value


def parse_numbers(text: str, option: str, *, minimum: float | None = None, maximum: float | None = None,
                  what: str = "number") -> tuple[float, ...]:
    """A comma-separated list of finite numbers within [minimum, maximum]."""
    parts = [p.strip() for p in str(text).split(",")]
    if not parts or any(not p for p in parts):
        raise click.BadParameter(f"{text!r}: give comma-separated {what}s, e.g. 10,50,100", param_hint=option)
    values = tuple(_number(p, option, text) for p in parts)
    _within(values, text, option, minimum, maximum, what)
    return values


def parse_range(text: str, option: str, *, minimum: float | None = None, maximum: float | None = None,
                unit: str = "", max_points: int = 100_000) -> Any:
    """'start:stop:step' (stop included) or a comma-separated list, as a numpy array.

    Refused with one line: non-numbers, infinities and NaN, a step that is not positive, a stop
    below the start, more than ``max_points`` values, and values outside [minimum, maximum].
    """
    import numpy as np

    text = str(text).strip()
    suffix = f" {unit}" if unit else ""
    if ":" in text:
        parts = text.split(":")
        if len(parts) != 3 or any(not p.strip() for p in parts):
            raise click.BadParameter(f"{text!r}: a range is start:stop:step{suffix}, e.g. 0:100:5", param_hint=option)
        start, stop, step = (_number(p.strip(), option, text) for p in parts)
        if step <= 0:
            raise click.BadParameter(f"{text!r}: the step must be positive (got {step:g})", param_hint=option)
        if stop < start:
            raise click.BadParameter(f"{text!r}: the stop ({stop:g}) is below the start ({start:g}); the range is "
                                     "empty", param_hint=option)
        if (stop - start) / step + 1 > max_points:
            raise click.BadParameter(f"{text!r}: more than {max_points} values; use a larger step",
                                     param_hint=option)
        values = np.round(np.arange(start, stop + step / 2, step), 9)
    else:
        values = np.array(parse_numbers(text, option))
    _within(tuple(values), text, option, minimum, maximum, "value")
    return values


def _within(values: tuple[float, ...], text: str, option: str, minimum: float | None, maximum: float | None,
            what: str) -> None:
    low = [v for v in values if minimum is not None and v < minimum]
    high = [v for v in values if maximum is not None and v > maximum]
    if low or high:
        bounds = (f"at least {minimum:g}" if maximum is None else f"at most {maximum:g}" if minimum is None
                  else f"between {minimum:g} and {maximum:g}")
        raise click.BadParameter(f"{text!r}: every {what} must be {bounds} (got {(low or high)[0]:g})",
                                 param_hint=option)


def _checked(kind: str, test: Any, accepted: str) -> click.ParamType:
    class Checked(click.ParamType):
        name = kind

        def convert(self, value: Any, param: Any, ctx: Any) -> float:
            if isinstance(value, float) and test(value):
                return value
            try:
                number = float(value)
            except (TypeError, ValueError):
                self.fail(f"{value!r} is not a number ({accepted})", param, ctx)
            if not (math.isfinite(number) and test(number)):
                self.fail(f"{value!r} is not accepted: {accepted}", param, ctx)
            return number
    return Checked()


#: click types for single numbers: finite, and in the range their name says.
FINITE = _checked("number", lambda v: True, "a finite number")
NON_NEGATIVE = _checked("number>=0", lambda v: v >= 0, "a finite number >= 0")
POSITIVE = _checked("number>0", lambda v: v > 0, "a finite number > 0")
PROBABILITY = _checked("probability", lambda v: 0 <= v <= 1, "a probability between 0 and 1")
TIMEOUT = _checked("seconds", lambda v: 0.05 <= v <= 600, "a time between 0.05 and 600 s")
CONFIDENCE = _checked("(0,1)", lambda v: 0 < v < 1, "a number strictly between 0 and 1")
