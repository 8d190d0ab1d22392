"""``qkdlab keyrate --protocol bb84-mismatch --decoys 0.5,0.1,0``: the mismatch-aware key rate of a
weak-coherent link with decoys over distance (the decoy channel of :mod:`qkdlab.analysis.mismatch`),
certified per point by the numerical engine; table, CSV or JSON."""

from __future__ import annotations

import csv
import json
import sys
from dataclasses import dataclass

import click
import numpy as np
from rich.table import Table

from ..errors import ConfigError
from .console import console
from .mismatch import MismatchOptions, detector_tables

__all__ = ["DecoyLink", "run_decoy_mismatch"]

_COLUMNS = ("eta1", "eta2", "distance_km", "key_rate_bps", "key_rate_per_pulse", "key_rate_per_signal",
            "single_photon_bound", "vacuum_term", "leakage", "b1", "b2", "photon_bound", "certified", "status",
            "assumptions")


@dataclass(frozen=True)
class DecoyLink:
    """The simulated link of a decoy design study (the prepare-and-measure channel options)."""

    intensities: tuple[float, ...]
    intensity_probabilities: tuple[float, ...]
    distances_km: np.ndarray
    fiber_loss_db_per_km: float
    dark_count_probability: float
    misalignment: float
    repetition_rate_hz: float


def run_decoy_mismatch(opts: MismatchOptions, link: DecoyLink, model) -> None:
    from ..analysis.mismatch import (
        MismatchInputError,
        Receiver,
        decoy_mismatch_key_rate,
        simulate_decoy_statistics,
    )

    if opts.receiver != "active":
        raise click.UsageError("the decoy channel model is written for the active receiver: use --receiver active")
    chosen = detector_tables(opts, model)        # with --model: the worst case over the calibration's box
    bound = {"squasher": "squasher", "cutoff": "cutoff", None: "auto"}.get(opts.photon_bound, opts.photon_bound)
    rows = []
    for eta2, tab in chosen.tables:
        receiver = Receiver("active", tab, opts.statistics)
        previous = None
        for km in link.distances_km:
            t = 10 ** (-link.fiber_loss_db_per_km * float(km) / 10)
            try:
                stats = simulate_decoy_statistics(chosen.link_receiver or receiver, link.intensities, t,
                                                  misalignment=link.misalignment,
                                                  dark_count_probability=link.dark_count_probability,
                                                  intensity_probabilities=link.intensity_probabilities,
                                                  repetition_rate_hz=link.repetition_rate_hz)
                res = decoy_mismatch_key_rate(receiver, stats, bound, f_ec=opts.ec_efficiency, warm_start=previous,
                                              **chosen.solve_options)
            except MismatchInputError as exc:
                raise ConfigError(str(exc)) from None
            previous = res
            rows.append({"eta1": chosen.eta1, "eta2": eta2, "distance_km": float(km), "key_rate_bps": res.key_rate_bps,
                         "key_rate_per_pulse": res.key_rate_per_pulse, "key_rate_per_signal": res.key_rate_per_signal,
                         "single_photon_bound": res.single_photon_bound, "vacuum_term": res.vacuum_term,
                         "leakage": res.leakage, "b1": res.b1, "b2": res.b2, "photon_bound": res.photon_bound,
                         "certified": res.certified, "status": res.status,
                         "assumptions": chosen.assumptions + list(res.assumptions), "reason": res.reason})
    if opts.output_format == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(_COLUMNS)
        for row in rows:
            writer.writerow(["; ".join(row[c]) if c == "assumptions" else ("" if row[c] is None else row[c])
                             for c in _COLUMNS])
    elif opts.output_format == "json":
        json.dump(rows, sys.stdout, indent=1, default=float)
        sys.stdout.write("\n")
    else:
        _print(rows, link, opts)


def _print(rows: list[dict], link: DecoyLink, opts: MismatchOptions) -> None:
    table = Table(title=(f"Decoy-state BB84 with detector-efficiency mismatch — active receiver, intensities "
                         f"{','.join(f'{m:g}' for m in link.intensities)}, {opts.statistics}-grained, asymptotic"))
    for name in ("η2", "km", "bit/s", "per pulse", "β₁", "leak/signal", "bound", "status"):
        table.add_column(name, justify="right", no_wrap=True)
    for r in rows:
        rate = f"{r['key_rate_bps']:.3e}" if r["key_rate_bps"] > 0 else "0"
        table.add_row(f"{r['eta2']:.4g}", f"{r['distance_km']:g}", rate, f"{r['key_rate_per_pulse']:.3e}",
                      f"{r['single_photon_bound']:.4e}", f"{r['leakage']:.3e}", r["photon_bound"], r["status"])
    console.print(table)
    for line in rows[0]["assumptions"]:
        console.print(f"    • {line}", highlight=False)
    for r in rows:
        if r["reason"]:
            console.print(f"[yellow]η2 = {r['eta2']:.4g}, {r['distance_km']:g} km[/]: {r['reason']}", highlight=False)
