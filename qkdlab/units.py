"""The one pint UnitRegistry of qkdlab, and the conversions every layer shares.

Why one registry: pint refuses to combine quantities from different registries, so drivers,
the simulator and the analysis must all build their quantities here.
"""

from __future__ import annotations

import math
from typing import Any

import pint

ureg = pint.UnitRegistry()
Q_ = ureg.Quantity

__all__ = ["ureg", "Q_", "to_si", "as_quantity", "db_to_linear", "linear_to_db", "dbm_to_watt", "watt_to_dbm"]


def to_si(value: Any, unit: str) -> float:
    """Return ``value`` as a float in ``unit``.

    ``value`` may be a pint quantity of compatible dimension, a string such as ``"4 V"`` or
    ``"-3 dBm"``-free plain numbers, or a plain number that is then taken to be in ``unit`` already
    (the SI-float convention at the driver edge). A quantity of the wrong dimension raises
    ``pint.DimensionalityError``, which callers turn into a clear error.
    """
    if unit == "dB":
        # pint's dB is logarithmic and does not combine like a linear unit; attenuations and
        # ratios in qkdlab are plain floats in dB, written "30" or "30 dB".
        text = str(value.magnitude if isinstance(value, pint.Quantity) else value).strip()
        return float(text[:-2] if text.lower().endswith("db") else text)
    if isinstance(value, str):
        value = Q_(value)
    if isinstance(value, pint.Quantity):
        if not unit:
            return float(value.to("dimensionless").magnitude)
        return float(value.to(unit).magnitude)
    return float(value)


def as_quantity(value: float, unit: str) -> pint.Quantity:
    """Wrap a float that is in ``unit`` as a quantity (``unit=""`` gives a dimensionless one)."""
    return Q_(value, unit or "dimensionless")


def db_to_linear(db: float) -> float:
    """Power ratio from decibels: 10 dB -> 10."""
    return 10.0 ** (db / 10.0)


def linear_to_db(ratio: float) -> float:
    """Decibels from a power ratio; a non-positive ratio is -inf dB."""
    return 10.0 * math.log10(ratio) if ratio > 0 else -math.inf


def dbm_to_watt(dbm: float) -> float:
    """Optical power in W from dBm."""
    return 1e-3 * db_to_linear(dbm)


def watt_to_dbm(watt: float) -> float:
    """Optical power in dBm from W (0 W is -inf dBm)."""
    return linear_to_db(watt / 1e-3)
