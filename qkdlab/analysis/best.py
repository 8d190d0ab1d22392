"""The best valid bound (issue 15, part 3): every applicable method, the largest secure rate, the winner named.

Each prepare-and-measure method (LTQC, GLLP, RT, and LT for ε = 0) gives a secure lower bound on
the key under its own stated assumptions. ``key_rate(..., method="best")`` evaluates all that apply
to the source and reports, per row, the one with the largest rate in bit/s (ties: per pulse); the
row keeps the winner's assumptions (so an RT win says it needs the sequential assumption) and
names it in ``parameters["winner"]``.

Asymptotically the choice is free: every bound is a property of the same observed statistics.
For a finite key the choice is made *after* seeing the data, so we pay for it with a union bound
(docs/keyrate-derivation.md, Sec. 10): each of the k methods tried is run as a protocol with
secrecy ε_sec/k, and since the choice m* is a function of public data, the output key's distance
from an ideal key is at most Σ_m (distance of protocol m's key restricted to m* = m) ≤ Σ_m ε_sec/k
= ε_sec. Correctness (ε_cor, the verification hash) does not depend on the method and is not split.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from ..model import KeyRateResult
from .source import AnalysisSource

__all__ = ["applicable_methods", "best_of"]


def applicable_methods(source: AnalysisSource) -> tuple[str, ...]:
    """The methods whose assumptions a source can meet: LT needs ε = 0, GLLP needs BB84."""
    methods = ["ltqc"]
    if source.protocol == "bb84":
        methods.append("gllp")
    methods.append("rt")
    if source.epsilon == 0:
        methods.append("lt")
    return tuple(methods)


def _winner(row: tuple[KeyRateResult, ...]) -> KeyRateResult:
    return max(row, key=lambda r: (r.key_rate_bps, r.key_rate_per_pulse, -r.phase_error))


def best_of(compute: Callable[[str, Any], Sequence[KeyRateResult]], methods: tuple[str, ...],
            finite: Any) -> list[KeyRateResult]:
    """Rows of ``compute(method, finite_share)`` for every method; per row the largest rate (module docstring).

    ``finite``: None (asymptotic) or keyrate's FiniteKey, whose ε_sec is split equally among the
    methods (this module does not import keyrate, which calls it).
    """
    share = None if finite is None else replace(finite, epsilon_sec=finite.epsilon_sec / len(methods))
    outputs = [compute(method, share) for method in methods]
    note = f"best of {', '.join(methods)} per row (largest secure rate)"
    if finite is not None:
        note += f"; union bound: each method run with ε_sec/{len(methods)}"
    results = []
    for row in zip(*outputs):
        winner = _winner(row)
        update: dict = {"method": "best", "assumptions": winner.assumptions + (note,),
                        "parameters": {**winner.parameters, "winner": winner.method,
                                       "methods_tried": ", ".join(methods)}}
        if winner.finite is not None and finite is not None:
            update["finite"] = winner.finite.model_copy(update={"epsilon_sec": finite.epsilon_sec})
        results.append(winner.model_copy(update=update))
    return results
