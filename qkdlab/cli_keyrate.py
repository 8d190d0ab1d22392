"""``qkdlab keyrate``: secret-key rates of a characterized source over distance (table, CSV, figure)."""

from __future__ import annotations

import csv
import sys

import click
import numpy as np
from rich.console import Console
from rich.table import Table

from .errors import ConfigError

console = Console()


def parse_distances(text: str) -> np.ndarray:
    """'0:300:5' (start:stop:step, stop included) or a comma-separated list of km."""
    try:
        if ":" in text:
            start, stop, step = (float(x) for x in text.split(":"))
            if step <= 0 or stop < start:
                raise ValueError
            return np.round(np.arange(start, stop + step / 2, step), 9)
        values = np.array([float(x) for x in text.split(",")])
    except ValueError:
        raise click.BadParameter(f"{text!r}: give start:stop:step in km (e.g. 0:300:5) or a list (10,50,100)",
                                 param_hint="--distance") from None
    if np.any(values < 0):
        raise click.BadParameter("distances must be non-negative", param_hint="--distance")
    return values


def _floats(text: str | None, option: str) -> tuple[float, ...] | None:
    if text is None:
        return None
    try:
        return tuple(float(x) for x in text.split(","))
    except ValueError:
        raise click.BadParameter(f"{text!r}: give comma-separated numbers", param_hint=option) from None


@click.command("keyrate")
@click.option("--model", "model_path", type=click.Path(dir_okay=False),
              help="SourceModel JSON (or HDF5 with a calibration); otherwise give --delta/--epsilon.")
@click.option("--protocol", type=click.Choice(["bb84", "three-state"]), help="Protocol (default: the model's, or bb84).")
@click.option("--delta", type=float, help="Inline source: qubit flaw δ of θ_j = (1 + δ/π) φ_j / 2 (rad).")
@click.option("--epsilon", type=float, help="Inline source: side-channel bound ε (1 − fidelity).")
@click.option("--correlations", help="Inline source: pulse-correlation ε_l per lag, e.g. 1e-7,1e-8 (l_c = their "
                                     "number; ε_correl = 1 − Π(1 − ε_l) joins ε).")
@click.option("--method", default="ltqc", show_default=True, type=click.Choice(["ltqc", "gllp", "rt", "lt"]))
@click.option("--compare", help="More methods to compute on the same source, e.g. gllp,rt,lt.")
@click.option("--distance", "distance_text", default="0:300:5", show_default=True, help="km: start:stop:step or a list.")
@click.option("--finite", type=float, help="Block size N (pulses) for the finite-key rate; omit for asymptotic.")
@click.option("--eps-sec", default=1e-10, show_default=True, help="Secrecy parameter (finite key).")
@click.option("--eps-cor", default=1e-10, show_default=True, help="Correctness parameter (finite key).")
@click.option("--fiber-loss", default=0.2, show_default=True, help="Fiber loss (dB/km).")
@click.option("--detector-efficiency", default=0.73, show_default=True)
@click.option("--dark-count-prob", default=1e-8, show_default=True, help="Dark-count probability per detector and pulse.")
@click.option("--ec-efficiency", default=1.16, show_default=True, help="Error-correction inefficiency f.")
@click.option("--rep-rate", default=2.5e9, show_default=True, help="Repetition rate (Hz).")
@click.option("--basis-prob", default=0.5, show_default=True, help="Probability that Alice (and Bob) choose Z.")
@click.option("--misalignment", default=0.0, show_default=True, help="Optical misalignment error probability.")
@click.option("--decoys", help="Weak coherent pulses with decoys: mean photon numbers, signal first, with a vacuum "
                               "0 (e.g. 0.5,0.1,0). Default: a single-photon source.")
@click.option("--format", "output_format", type=click.Choice(["table", "csv"]), default="table", show_default=True)
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), help="Draw the curves (with PLOB) to this image.")
def keyrate_command(model_path: str | None, protocol: str | None, delta: float | None, epsilon: float | None,
                    correlations: str | None, method: str, compare: str | None, distance_text: str, finite: float | None, eps_sec: float,
                    eps_cor: float, fiber_loss: float, detector_efficiency: float, dark_count_prob: float,
                    ec_efficiency: float, rep_rate: float, basis_prob: float, misalignment: float, decoys: str | None,
                    output_format: str, plot_path: str | None) -> None:
    """Secret-key rate against distance for a characterized source over a simulated fiber link.

    The source is a calibrated SourceModel (--model) or the papers' flaw family (--delta,
    --epsilon). Every number is a secure lower bound; methods that cannot be applied to the source
    (LT with ε > 0, GLLP for the three-state protocol) are skipped with the reason.
    """
    from .analysis import AnalysisSource, Channel, FiniteKey, key_rate
    from .model import load_source_model

    distances = parse_distances(distance_text)
    if model_path is not None:
        if delta is not None or epsilon is not None or correlations is not None:
            raise click.UsageError("give either --model or the inline --delta/--epsilon/--correlations, not both")
        model = load_source_model(model_path)
        if protocol is not None and protocol != model.protocol:
            raise click.UsageError(f"the model is for the {model.protocol} protocol, not {protocol}")
        source = AnalysisSource.from_model(model)
    else:
        try:
            source = AnalysisSource.flawed(protocol or "bb84", delta or 0.0, epsilon or 0.0,
                                           correlation_epsilons=_floats(correlations, "--correlations") or ())
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    intensities = _floats(decoys, "--decoys")
    try:
        channel = Channel(fiber_loss_db_per_km=fiber_loss, detector_efficiency=detector_efficiency,
                          dark_count_probability=dark_count_prob, ec_efficiency=ec_efficiency,
                          repetition_rate_hz=rep_rate, alice_z_probability=basis_prob, bob_z_probability=basis_prob,
                          misalignment=misalignment,
                          source="weak-coherent" if intensities else "single-photon",
                          intensities=intensities or (1.0,),
                          intensity_probabilities=_intensity_probabilities(intensities))
        finite_key = None if finite is None else FiniteKey(finite, eps_sec, eps_cor)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    methods = [method] + [m.strip() for m in (compare or "").split(",") if m.strip() and m.strip() != method]
    curves, skipped = {}, []
    for name in methods:
        if name not in ("ltqc", "gllp", "rt", "lt"):
            raise click.BadParameter(f"{name!r} is not a method (ltqc, gllp, rt, lt)", param_hint="--compare")
        try:
            curves[name] = key_rate(source, channel, name, finite_key, distance_km=distances)
        except ValueError as exc:
            if name == method:
                raise ConfigError(str(exc)) from None
            skipped.append(f"{name}: {exc}")
    if output_format == "csv":
        _write_csv(curves)
    else:
        _print_table(curves, source, finite_key, skipped)
    if plot_path:
        from .analysis.plots import plot_key_rates

        regime = "asymptotic" if finite_key is None else f"N = {finite_key.block_size:.0e}"
        plot_key_rates(curves, plot_path, title=f"{source.protocol}, {source.description}, {regime}",
                       fiber_loss_db_per_km=fiber_loss, repetition_rate_hz=rep_rate)
        if output_format == "table":
            console.print(f"figure: {plot_path}")


def _intensity_probabilities(intensities: tuple[float, ...] | None) -> tuple[float, ...]:
    if not intensities:
        return (1.0,)
    rest = (1.0 - 0.8) / (len(intensities) - 1)
    return (0.8,) + (rest,) * (len(intensities) - 1)


def _write_csv(curves: dict) -> None:
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(["method", "distance_km", "key_rate_bps", "key_rate_per_pulse", "phase_error", "bit_error",
                     "repetition_rate_hz", "solver_status", "certified"])
    for name, curve in curves.items():
        for r in curve:
            writer.writerow([name, f"{r.distance_km:g}", f"{r.key_rate_bps:.6e}", f"{r.key_rate_per_pulse:.6e}",
                             f"{r.phase_error:.6e}", f"{r.bit_error:.6e}", f"{r.repetition_rate_hz:.6e}",
                             r.solver.status, r.solver.certified and not r.solver.conservative])


def _print_table(curves: dict, source, finite_key, skipped: list[str]) -> None:
    regime = "asymptotic" if finite_key is None else f"finite key, N = {finite_key.block_size:.3g}"
    table = Table(title=f"Secret-key rate (bit/s) — {source.protocol}, {source.description}, {regime}")
    table.add_column("km", justify="right", no_wrap=True)
    for name in curves:
        table.add_column(f"{name}\nbit/s", justify="right", no_wrap=True)
        table.add_column(f"{name}\ne_ph", justify="right", no_wrap=True)
    first = next(iter(curves.values()))
    for i, result in enumerate(first):
        row = [f"{result.distance_km:g}"]
        for curve in curves.values():
            r = curve[i]
            row += [f"{r.key_rate_bps:.2e}" if r.key_rate_bps > 0 else "0", f"{r.phase_error:.4f}"]
        table.add_row(*row)
    console.print(table)
    for name, curve in curves.items():
        report = curve[0].solver
        status = f"{report.solver}: {report.status}" + (", certified" if report.certified else "")
        if report.conservative:
            status += f" — CONSERVATIVE: {report.message}"
        console.print(f"[bold]{name}[/]: max distance {curve.max_distance():g} km; ε used {curve[0].epsilon:.3g}; "
                      f"{status}")
        for assumption in curve[0].assumptions:
            console.print(f"    • {assumption}", highlight=False)
    for line in skipped:
        console.print(f"[yellow]skipped[/] {line}", highlight=False)


__all__ = ["keyrate_command", "parse_distances"]
