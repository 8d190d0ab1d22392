"""A readable report of a ``SourceModel``: every number, its interval, and where it came from."""

from __future__ import annotations

import math
from typing import Any

from rich.console import Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from ..model import Bound, SourceModel

__all__ = ["model_report"]


def _fmt(value: float | None, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}g}"


def _bound(b: Bound | None, digits: int = 4) -> str:
    if b is None:
        return "—"
    if b.lower is not None and b.upper is not None:
        return f"{_fmt(b.value, digits)}  [{_fmt(b.lower, digits)}, {_fmt(b.upper, digits)}]"
    if b.upper is not None:
        return f"{_fmt(b.value, digits)}  (≤ {_fmt(b.upper, digits)})"
    if b.lower is not None:
        return f"{_fmt(b.value, digits)}  (≥ {_fmt(b.lower, digits)})"
    return _fmt(b.value, digits)


def _mode_rows(extras: Table, model: SourceModel) -> None:
    """The mode-dependence part's estimate, interval and ingredients, when it was measured (or overridden)."""
    try:
        part = model.epsilon.part("mode_dependence")
    except KeyError:
        return
    d = part.details
    if "estimate" in d:
        zero = " (consistent with 0)" if d.get("consistent_with_zero") else ""
        extras.add_row("mode dependence 1 - F", f"{_fmt(float(d['estimate']))}  (≤ {_fmt(part.upper)}){zero}; "
                       f"resolution floor {_fmt(float(d['resolution_floor']))}")
        extras.add_row("pulse rms width σ_T / spectral σ_ν (upper)",
                       f"{float(d['sigma_t_upper_s']) * 1e12:.4g} ps / {float(d['sigma_nu_upper_hz']) / 1e9:.4g} GHz")
        delays = ", ".join(f"{v * 1e12:.3g}" for v in d["delay_upper_s"])  # type: ignore[union-attr]
        shifts = ", ".join(f"{v / 1e6:.3g}" for v in d["frequency_shift_upper_hz"])  # type: ignore[union-attr]
        extras.add_row("|Δτ| per setting (ps, upper) / |Δν| (MHz, upper)", f"{delays} / {shifts}")
    elif "measured_upper" in d:
        extras.add_row("mode dependence (measured, overridden)",
                       f"≤ {_fmt(float(d['measured_upper']))} from {d['measured_run']}; stated {_fmt(part.upper)} used")


def model_report(model: SourceModel) -> Any:
    """Rich renderables: inputs, states and δ, ε budget, leakage, correlations, detectors, notes."""
    parts: list[Any] = []
    runs = Table(title="Runs used", title_justify="left")
    for column in ("kind", "run", "status", "file"):
        runs.add_column(column)
    for p in model.provenance:
        runs.add_row(p.kind, p.run, p.status, escape(p.file))
    parts.append(runs)

    states = Table(title=f"Encoded states ({model.protocol}); phases relative to {model.states[0].label}",
                   title_justify="left")
    for column in ("setting", "nominal φ (rad)", "measured φ (rad) [interval]", "Bloch vector (x, y, z)"):
        states.add_column(column)
    for s in model.states:
        x, y, z = s.bloch
        states.add_row(s.label, f"{s.nominal_phase:.4f}", _bound(s.phase, 6), f"({x:+.4f}, {y:+.1f}, {z:+.4f})")
    parts.append(states)
    if model.delta is not None:
        parts.append(Text(f"modulation flaw δ = {_bound(model.delta)} rad; rms residual of the one-parameter "
                          f"family θ_j = (1 + δ/π) φ_j/2: {model.delta_fit_residual_rad:.3g} rad"))

    budget = Table(title=f"Side-channel budget ε = {model.epsilon.total:.3e}", title_justify="left",
                   caption=model.epsilon.rule, caption_justify="left")
    for column in ("part", "ε ≤", "degree of freedom", "inventory", "failure prob.", "from"):
        budget.add_column(column, overflow="fold")
    for p in model.epsilon.parts:
        source = f"{p.provenance.run} ({p.provenance.kind}): {p.provenance.method}" if p.provenance else p.method
        budget.add_row(p.name, f"{p.upper:.3e}", p.degree_of_freedom, p.inventory, f"{p.failure_probability:.2g}",
                       escape(source))
    parts.append(budget)

    extras = Table(title="Other characterized quantities", title_justify="left", show_header=False)
    extras.add_column("quantity")
    extras.add_column("value")
    if model.isolation is not None:
        extras.add_row("back-reflection isolation γ", _bound(model.isolation)
                       + (f" ({-10 * math.log10(model.isolation.value):.1f} dB)" if model.isolation.value > 0 else ""))
    if model.leakage is not None:
        leak = model.leakage
        extras.add_row("leakage μ per slot", _bound(leak.mean_photons_per_slot))
        extras.add_row("leak / pulse energy", _bound(leak.relative_energy))
        if leak.extinction_ratio_db is not None:
            extras.add_row("extinction ratio (dB)", _bound(leak.extinction_ratio_db, 3))
    if model.correlations is not None:
        corr = model.correlations
        extras.add_row("correlation length l_c", str(corr.length))
        extras.add_row("ε_l per lag", ", ".join(f"{e:.2e}" for e in corr.epsilon_per_lag))
        extras.add_row("phase resolution (rad)", f"{corr.resolution:.2e}")
    if model.detectors is not None:
        det = model.detectors
        t = det.delays_s.index(det.operating_delay_s) if det.operating_delay_s in det.delays_s else None
        for i, name in enumerate(det.detectors):
            at = _bound(det.efficiency[i][t]) if t is not None else "—"
            extras.add_row(f"η {name} at {det.operating_delay_s * 1e9:.2f} ns", at)
            extras.add_row(f"dark probability {name}", _bound(det.dark_probability[i]))
        extras.add_row("efficiency mismatch η_min/η_max", _bound(det.mismatch_ratio))
    _mode_rows(extras, model)
    extras.add_row("confidence per bound / total failure probability",
                   f"{model.confidence} / {model.total_failure_probability:.3g} (add to ε_sec)")
    parts.append(extras)
    if model.notes:
        parts.append(Text("Notes:\n" + "\n".join(f"  - {n}" for n in model.notes),
                          style="yellow" if model.partial else ""))
    return Group(*parts)
