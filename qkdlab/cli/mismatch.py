"""``qkdlab keyrate --protocol bb84-mismatch``: certified key rates of BB84 with detector-efficiency
mismatch (Zhang et al., PRR 3, 013076) over transmission or η2, as a table, CSV, JSON or figure."""

from __future__ import annotations

import csv
import json
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

import click
import numpy as np
from rich.table import Table

from ..errors import ConfigError
from .console import console, point_progress

if TYPE_CHECKING:
    from ..analysis.mismatch import Receiver

__all__ = ["DetectorTables", "MismatchOptions", "detector_tables", "eta_tables", "parse_range", "run_mismatch"]

_COLUMNS = ("receiver", "modes", "eta1", "eta2", "transmission", "misalignment", "multiphoton_fraction",
            "photon_bound", "statistics", "key_rate_per_round", "key_rate_unclipped", "certified_bound",
            "step1_value", "gap", "leakage", "b1", "b2", "certified", "status", "assumptions")


def parse_range(text: str, option: str, low: float = 0.0, high: float = 1.0) -> np.ndarray:
    """'0.1:0.9:0.1' (start:stop:step, stop included) or a comma-separated list, within [low, high]."""
    try:
        if ":" in text:
            start, stop, step = (float(x) for x in text.split(":"))
            if step <= 0 or stop < start:
                raise ValueError
            values = np.round(np.arange(start, stop + step / 2, step), 12)
        else:
            values = np.array([float(x) for x in text.split(",")])
    except ValueError:
        raise click.BadParameter(f"{text!r}: give start:stop:step (e.g. 0.1:0.9:0.1) or a list (0.1,0.5)",
                                 param_hint=option) from None
    if values.size == 0 or np.any(values < low) or np.any(values > high):
        raise click.BadParameter(f"{text!r}: values must lie in [{low:g}, {high:g}]", param_hint=option)
    return values


@dataclass(frozen=True)
class MismatchOptions:
    receiver: str
    modes: int
    eta: str | None
    eta2: str | None
    photon_bound: str
    statistics: str
    misalignment: float
    multiphoton_fraction: float
    transmission: str
    ec_efficiency: float
    output_format: str
    plot_path: str | None


def _check_model(opts: MismatchOptions, model) -> None:
    """--model excludes --eta/--eta2, needs a detector table, and describes the active receiver."""
    if opts.eta is not None or opts.eta2 is not None:
        raise click.UsageError("give either --model (its detector table) or --eta/--eta2, not both")
    if model.detectors is None:
        raise ConfigError("the model has no detector table: run the detector-efficiency scan and calibrate it")
    if opts.receiver != "active":
        raise click.UsageError("a calibrated detector table describes two detectors: use --receiver active")


def eta_tables(opts: MismatchOptions) -> tuple[float, list[tuple[float, np.ndarray]]]:
    """(η1, [(η2, η table)]) from --eta/--eta2 (Tables I/II of Zhang et al.); a model's detector
    table goes through the emulation hull instead (:func:`detector_tables`)."""
    from ..analysis.mismatch import table_i, table_ii

    if opts.eta is None:
        raise click.UsageError("give --eta ETA1,ETA2 (Table I/II efficiencies) or --model with a detector table")
    values = parse_range(opts.eta, "--eta")
    if values.size != 2:
        raise click.BadParameter(f"{opts.eta!r}: give two efficiencies ETA1,ETA2", param_hint="--eta")
    eta1 = float(values[0])
    etas = list(parse_range(opts.eta2, "--eta2")) if opts.eta2 else [float(values[1])]
    out = []
    for eta2 in etas:
        if opts.receiver == "active":
            if opts.modes == 1:
                tab = np.array([[eta1], [eta2]])
            elif opts.modes == 2:
                tab = table_i(eta1, eta2)
            else:
                raise click.BadParameter("the active receiver with Table I takes --modes 1 or 2", param_hint="--modes")
        else:
            if opts.modes == 1:
                tab = np.array([[eta1], [eta2], [eta2], [eta2]])
            elif opts.modes == 4:
                tab = table_ii(eta1, eta2)
            else:
                raise click.BadParameter("the passive receiver with Table II takes --modes 1 or 4", param_hint="--modes")
        out.append((float(eta2), tab))
    return eta1, out


@dataclass(frozen=True)
class DetectorTables:
    """What a mismatch command solves over: η1, the (η2, table) pairs, the simulated link's receiver (None: the
    analysis table's own), the assumptions the tables add to each row and the solver options they need."""

    eta1: float
    tables: list[tuple[float, np.ndarray]]
    link_receiver: Receiver | None
    assumptions: list[str]
    solve_options: dict


def detector_tables(opts: MismatchOptions, model) -> DetectorTables:
    """The η tables of the options or, with --model, the emulation hull of the DetectorTable's confidence
    boxes (a worst case over the calibration, docs/mismatch-calibrated.md), whose simulated link's light
    meets the point estimates at the operating delay. Used by the plain and the decoy command."""
    if model is None:
        eta1, tables = eta_tables(opts)
        return DetectorTables(eta1, tables, None, [], {})
    from ..analysis.mismatch import Receiver
    from ..analysis.mismatch.hull import calibrated_hull

    _check_model(opts, model)
    hull = calibrated_hull(model.detectors)
    tab = hull.analysis_table
    return DetectorTables(float(tab.max()), [(float(tab.min()), tab)],
                          Receiver("active", hull.point[:, None], opts.statistics),
                          [hull.assumption, "simulated link: the light meets the point estimates at the operating delay"],
                          {"minima": hull.minima, "sectors": True})


def run_mismatch(opts: MismatchOptions, model) -> None:
    from ..analysis.mismatch import Receiver, mismatch_key_rate, simulate_statistics

    chosen = detector_tables(opts, model)
    transmissions = parse_range(opts.transmission, "--transmission")
    rows, previous = [], None
    with point_progress(len(chosen.tables) * len(transmissions), "certified mismatch key rates") as advance:
        for eta2, tab in chosen.tables:
            receiver = Receiver(opts.receiver, tab, opts.statistics)
            for t in transmissions:
                p = simulate_statistics(chosen.link_receiver or receiver, opts.misalignment, opts.multiphoton_fraction,
                                        float(t))
                res = mismatch_key_rate(receiver, p, opts.photon_bound, f_ec=opts.ec_efficiency, warm_start=previous,
                                        **chosen.solve_options)
                previous = res
                advance(f"η2 = {eta2:.4g}, transmission {float(t):.4g}: {'certified' if res.certified else res.status}")
                rows.append({"receiver": opts.receiver, "modes": receiver.modes, "eta1": chosen.eta1, "eta2": eta2,
                             "transmission": float(t), "misalignment": opts.misalignment,
                             "multiphoton_fraction": opts.multiphoton_fraction, "photon_bound": opts.photon_bound,
                             "statistics": opts.statistics, "key_rate_per_round": res.key_rate,
                             "key_rate_unclipped": res.key_rate_unclipped, "certified_bound": res.certified_bound,
                             "step1_value": res.step1_value, "gap": res.gap, "leakage": res.leakage, "b1": res.b1,
                             "b2": res.b2, "certified": res.certified, "status": res.status,
                             "assumptions": chosen.assumptions + list(res.assumptions), "reason": res.reason})
    if opts.output_format == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(_COLUMNS)
        for row in rows:
            writer.writerow(["; ".join(row[c]) if c == "assumptions" else
                             ("" if row[c] is None else row[c]) for c in _COLUMNS])
    elif opts.output_format == "json":
        json.dump(rows, sys.stdout, indent=1, default=float)
        sys.stdout.write("\n")
    else:
        _print(rows)
    if opts.plot_path:
        from .plots import plot_mismatch

        plot_mismatch(rows, opts.plot_path)
        if opts.output_format == "table":
            console.print(f"figure: {opts.plot_path}")


def _print(rows: list[dict]) -> None:
    first = rows[0]
    table = Table(title=(f"BB84 with detector-efficiency mismatch — {first['receiver']} receiver, {first['modes']} "
                         f"mode(s), {first['photon_bound']}, {first['statistics']}-grained; bits per round"))
    for name in ("η2", "t", "key rate", "certified β", "step 1 − β", "leak", "b1", "b2", "status"):
        table.add_column(name, justify="right", no_wrap=True)
    for r in rows:
        b = ["—" if r[k] is None else f"{r[k]:.4f}" for k in ("b1", "b2")]
        table.add_row(f"{r['eta2']:.4g}", f"{r['transmission']:.4g}", f"{r['key_rate_per_round']:.4e}",
                      f"{r['certified_bound']:.6e}", f"{r['gap']:.1e}", f"{r['leakage']:.4e}", *b, r["status"])
    console.print(table)
    for line in first["assumptions"]:
        console.print(f"    • {line}", highlight=False)
    for r in rows:
        if r["reason"]:
            console.print(f"[yellow]η2 = {r['eta2']:.4g}, t = {r['transmission']:.4g}[/]: {r['reason']}", highlight=False)
