"""``qkdlab keyrate``: secret-key rates of a characterized source over distance (table, CSV, figure)."""

from __future__ import annotations

import csv
import sys
from typing import TYPE_CHECKING

import click
from rich.table import Table

from ..errors import ConfigError
from .console import console, err_console, point_progress
from .options import CONFIDENCE, FINITE, NON_NEGATIVE, POSITIVE, PROBABILITY, parse_range

if TYPE_CHECKING:
    import numpy as np


def parse_distances(text: str) -> np.ndarray:
    """'0:300:5' (start:stop:step, stop included) or a comma-separated list of km (finite, >= 0)."""
    return parse_range(text, "--distance", minimum=0.0, unit="km")


def _floats(text: str | None, option: str) -> tuple[float, ...] | None:
    if text is None:
        return None
    try:
        return tuple(float(x) for x in text.split(","))
    except ValueError:
        raise click.BadParameter(f"{text!r}: give comma-separated numbers", param_hint=option) from None


#: Channel defaults per protocol family: the framework paper's (prepare-and-measure) and Bourassa et al.'s (MDI).
_DEFAULTS = {"pm": {"detector_efficiency": 0.73, "dark_count_prob": 1e-8, "ec_efficiency": 1.16, "rep_rate": 2.5e9},
             "mdi": {"detector_efficiency": 0.5, "dark_count_prob": 1e-6, "ec_efficiency": 1.0, "rep_rate": 1e9}}


@click.command("keyrate")
@click.option("--model", "model_path", type=click.Path(dir_okay=False),
              help="SourceModel JSON (or HDF5 with a calibration); otherwise give the source inline.")
@click.option("--protocol", type=click.Choice(["bb84", "three-state", "mdi-bb84", "mdi-three-state", "bb84-mismatch"]),
              help="Protocol (default: the model's, or bb84).")
@click.option("--delta", type=FINITE, help="Inline source: qubit flaw δ of θ_j = (1 + δ/π) φ_j / 2 (rad).")
@click.option("--epsilon", type=PROBABILITY, help="Inline source: side-channel bound ε (1 − fidelity).")
@click.option("--correlations", help="Inline source: pulse-correlation ε_l per lag, e.g. 1e-7,1e-8 (l_c = their "
                                     "number; ε_correl = 1 − Π(1 − ε_l) joins ε).")
@click.option("--method", default="ltqc", show_default=True,
              type=click.Choice(["ltqc", "gllp", "rt", "lt", "best"]),
              help="Prepare-and-measure method; best: every method the source allows, the largest secure rate per "
                   "distance, the winner named (finite keys split --eps-sec among them). MDI always uses the "
                   "Gram-matrix SDP.")
@click.option("--compare", help="More methods to compute on the same source, e.g. gllp,rt,lt,best.")
@click.option("--leakage-model", default="3", show_default=True,
              help="MDI: leakage-light model(s) 1, 2, 3 (Bourassa et al. Eqs. 15-17), e.g. 1,2,3 for one curve each.")
@click.option("--leakage-intensity", type=NON_NEGATIVE,
              help="MDI: leakage mean photon number |α|² per slot (default: the model's calibrated bound, else 0).")
@click.option("--statistics", type=click.Choice(["all", "matched", "fine", "coarse"]),
              help="MDI: constrain the SDP with all basis pairs or only matched ones [all]; bb84-mismatch: "
                   "double clicks as their own outcomes (fine) or assigned to a random single click (coarse) [fine].")
@click.option("--receiver", type=click.Choice(["active", "passive"]), default="active", show_default=True,
              help="bb84-mismatch: Bob's basis choice by a modulator (active) or a 50/50 beam splitter (passive).")
@click.option("--modes", type=int, default=2, show_default=True,
              help="bb84-mismatch: spatio-temporal modes M (active: 1 or 2 = Table I; passive: 1 or 4 = Table II).")
@click.option("--eta", help="bb84-mismatch: ETA1,ETA2 of Table I/II (or use --model with a detector table).")
@click.option("--eta2", help="bb84-mismatch: sweep η2 (start:stop:step or a list), overriding ETA2 of --eta.")
@click.option("--photon-bound", type=click.Choice(["auto", "squashing-map", "squasher", "cutoff"]),
              help="bb84-mismatch: flag-state squasher with b1, b2 from the data, or assume ≤ 2 photons (cutoff) "
                   "[squasher]; with --decoys also the BB84 squashing map (equal efficiencies only) and auto (the "
                   "squashing map where it exists, else the squasher) [auto].")
@click.option("--multiphoton-fraction", type=float, default=0.0, show_default=True,
              help="bb84-mismatch simulated channel: fraction r of two-photon resends (Eq. 29).")
@click.option("--transmission", default="0.5", show_default=True,
              help="bb84-mismatch simulated channel: transmission t (start:stop:step or a list).")
@click.option("--distance", "distance_text", default="0:300:5", show_default=True,
              help="km: start:stop:step or a list (Alice-Bob; MDI: Alice-Charlie, each link).")
@click.option("--finite", type=POSITIVE, help="Block size N (pulses) for the finite-key rate; omit for asymptotic.")
@click.option("--eps-sec", default=1e-10, show_default=True, type=CONFIDENCE, help="Secrecy parameter (finite key).")
@click.option("--eps-cor", default=1e-10, show_default=True, type=CONFIDENCE, help="Correctness parameter (finite key).")
@click.option("--concentration", default="chernoff", show_default=True,
              type=click.Choice(["chernoff", "kato", "azuma"]),
              help="Finite key: the martingale inequality from counts to expectations (docs/finite-key-proof.md).")
@click.option("--fiber-loss", default=0.2, show_default=True, type=NON_NEGATIVE, help="Fiber loss (dB/km).")
@click.option("--detector-efficiency", type=PROBABILITY, help="Detector efficiency [default 0.73; MDI 0.5].")
@click.option("--dark-count-prob", type=PROBABILITY, help="Dark-count probability per detector and pulse [1e-8; MDI 1e-6].")
@click.option("--ec-efficiency", type=POSITIVE, help="Error-correction inefficiency f [1.16; MDI 1, as Eq. A6].")
@click.option("--rep-rate", type=POSITIVE, help="Repetition rate in Hz [2.5e9; MDI 1e9].")
@click.option("--pz", "--basis-prob", "pz", default=0.5, show_default=True, type=PROBABILITY,
              help="Probability that Alice and Bob each choose the key basis Z, for every protocol. Rates are per "
                   "emitted pulse and include the sifting this implies (p_Z² of the pulses are key rounds); "
                   "--pz 1 is the papers' asymptotic efficient-BB84 convention (no sifting loss; asymptotic only).")
@click.option("--misalignment", default=0.0, show_default=True, type=PROBABILITY, help="Optical misalignment error probability.")
@click.option("--decoys", help="Phase-randomised coherent pulses with decoys. Prepare-and-measure: mean photon "
                               "numbers, signal first, with a vacuum 0 (e.g. 0.5,0.1,0); MDI: the intensity set of "
                               "both users, key from the largest (e.g. 0.05,0.1,0.6). Default: single photons.")
@click.option("--format", "output_format", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True, help="json: bb84-mismatch only.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), help="Draw the curves (with PLOB) to this image.")
def keyrate_command(model_path: str | None, protocol: str | None, delta: float | None, epsilon: float | None,
                    correlations: str | None, method: str, compare: str | None, leakage_model: str,
                    leakage_intensity: float | None, statistics: str | None, receiver: str, modes: int,
                    eta: str | None, eta2: str | None, photon_bound: str, multiphoton_fraction: float,
                    transmission: str, distance_text: str, finite: float | None,
                    eps_sec: float, eps_cor: float, concentration: str, fiber_loss: float, detector_efficiency: float | None,
                    dark_count_prob: float | None, ec_efficiency: float | None, rep_rate: float | None,
                    pz: float, misalignment: float, decoys: str | None, output_format: str,
                    plot_path: str | None) -> None:
    """Secret-key rate against distance for a characterized source over a simulated fiber link.

    One convention for every protocol: bits per emitted pulse (and per second at the repetition
    rate), including the sifting that --pz implies; --pz 1 reproduces the papers' figures. MDI
    reports the Ψ+ and Ψ− keys on separate rows (each with its own phase error); their rates add.

    Prepare-and-measure (bb84, three-state): the source is a calibrated SourceModel (--model) or the
    papers' flaw family (--delta, --epsilon); methods that cannot be applied to the source (LT with
    ε > 0, GLLP for the three-state protocol) are skipped with the reason. MDI (mdi-bb84,
    mdi-three-state): leaky polarization sources with leakage-light Model 1, 2 or 3. bb84-mismatch:
    BB84 with detector-efficiency mismatch (Zhang et al., PRR 3, 013076) on the paper's simulated
    channel, key rate per round from the certified numerical engine; with --decoys, the weak-coherent
    link with decoy states over --distance (decoy LPs per outcome, then the engine). Every number is a secure lower
    bound.
    """
    from ..calibration import load_source_model

    if protocol == "bb84-mismatch":
        from .mismatch import MismatchOptions, run_mismatch

        if statistics in ("all", "matched"):
            raise click.UsageError("bb84-mismatch takes --statistics fine or coarse")
        model = load_source_model(model_path) if model_path is not None else None
        intensities = _floats(decoys, "--decoys")
        if intensities:
            from .decoy_mismatch import DecoyLink, run_decoy_mismatch

            if plot_path:
                raise click.UsageError("--plot is not available for bb84-mismatch with --decoys; use --format csv")
            defaults = _DEFAULTS["pm"]
            link = DecoyLink(intensities, _intensity_probabilities(intensities), parse_distances(distance_text),
                             fiber_loss, defaults["dark_count_prob"] if dark_count_prob is None else dark_count_prob,
                             misalignment, rep_rate or defaults["rep_rate"])
            run_decoy_mismatch(MismatchOptions(receiver, modes, eta, eta2, photon_bound, statistics or "fine",
                                               misalignment, 0.0, transmission,
                                               ec_efficiency or defaults["ec_efficiency"], output_format, None),
                               link, model)
            return
        if photon_bound in ("auto", "squashing-map"):
            raise click.UsageError(f"--photon-bound {photon_bound} needs --decoys; without decoys use squasher or cutoff")
        run_mismatch(MismatchOptions(receiver, modes, eta, eta2, photon_bound or "squasher", statistics or "fine",
                                     misalignment, multiphoton_fraction, transmission, ec_efficiency or 1.0,
                                     output_format, plot_path), model)
        return
    if output_format == "json":
        raise click.UsageError("--format json is available for --protocol bb84-mismatch only")
    if statistics in ("fine", "coarse"):
        raise click.UsageError("--statistics fine/coarse applies to --protocol bb84-mismatch only")
    statistics = statistics or "all"
    distances = parse_distances(distance_text)
    if model_path is not None and (delta is not None or epsilon is not None or correlations is not None):
        raise click.UsageError("give either --model or the inline --delta/--epsilon/--correlations, not both")
    model = load_source_model(model_path) if model_path is not None else None
    protocol = protocol or (model.protocol if model is not None else "bb84")
    family = "mdi" if protocol.startswith("mdi") else "pm"
    given = {"detector_efficiency": detector_efficiency, "dark_count_prob": dark_count_prob,
             "ec_efficiency": ec_efficiency, "rep_rate": rep_rate}
    channel = {key: value if value is not None else _DEFAULTS[family][key] for key, value in given.items()}
    if model is not None and model.repetition_rate_hz is not None:
        # the model's calibrated rate unless the user overrides it; either way the choice is said
        if rep_rate is None:
            channel["rep_rate"] = model.repetition_rate_hz
            err_console.print(f"repetition rate {model.repetition_rate_hz:.6g} Hz (from the model)", highlight=False)
        elif rep_rate != model.repetition_rate_hz:
            err_console.print(f"repetition rate {rep_rate:.6g} Hz (--rep-rate overrides the model's "
                              f"{model.repetition_rate_hz:.6g} Hz)", highlight=False)
    intensities = _floats(decoys, "--decoys")
    if family == "mdi":
        if finite is not None or compare:
            raise click.UsageError("MDI key rates are asymptotic and use the Gram-matrix SDP: drop --finite/--compare")
        curves, title, skipped = _mdi_curves(protocol, model, leakage_model, leakage_intensity, delta, statistics,
                                             distances, fiber_loss, channel, intensities, pz), f"{protocol}", []
        regime = "asymptotic"
    else:
        curves, title, skipped, regime = _pm_curves(model, protocol, delta, epsilon, correlations, method, compare,
                                                    distances, finite, (eps_sec, eps_cor, concentration),
                                                    fiber_loss, channel,
                                                    pz, misalignment, intensities)
    regime += "; pz → 1 (efficient BB84)" if pz == 1 else f"; pz = {pz:g}"
    curves = _split_announcements(curves)
    if output_format == "csv":
        _write_csv(curves)
    else:
        _print_table(curves, f"{title}, {regime}", skipped)
        if model is not None and any(r.key_rate_bps <= 0 for curve in curves.values() for r in curve):
            parts = sorted(model.epsilon.parts, key=lambda part: part.upper, reverse=True)[:3]
            console.print("    largest parts of the model's ε: " + "; ".join(
                f"{part.name} {part.upper:.3g} ({part.inventory})" for part in parts if part.upper > 0), highlight=False)
    if plot_path:
        from .plots import plot_key_rates

        mdi = family == "mdi"
        plot_key_rates(curves, plot_path, title=f"{title}, {regime}", fiber_loss_db_per_km=fiber_loss,
                       repetition_rate_hz=channel["rep_rate"], link_factor=2.0 if mdi else 1.0,
                       xlabel="Alice-Charlie distance (km)" if mdi else "distance (km)")
        if output_format == "table":
            console.print(f"figure: {plot_path}")


def _pm_curves(model, protocol, delta, epsilon, correlations, method, compare, distances, finite, finite_options,
               fiber_loss, channel_options, pz, misalignment, intensities):
    from ..analysis import AnalysisSource, Channel, FiniteKey, key_rate

    if model is not None:
        if protocol != model.protocol:
            raise click.UsageError(f"the model is for the {model.protocol} protocol, not {protocol}")
        source = AnalysisSource.from_model(model)
    else:
        try:
            source = AnalysisSource.flawed(protocol, delta or 0.0, epsilon or 0.0,
                                           correlation_epsilons=_floats(correlations, "--correlations") or ())
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    try:
        channel = Channel(fiber_loss_db_per_km=fiber_loss, detector_efficiency=channel_options["detector_efficiency"],
                          dark_count_probability=channel_options["dark_count_prob"],
                          ec_efficiency=channel_options["ec_efficiency"], repetition_rate_hz=channel_options["rep_rate"],
                          misalignment=misalignment,
                          source="weak-coherent" if intensities else "single-photon",
                          intensities=intensities or (1.0,),
                          intensity_probabilities=_intensity_probabilities(intensities))
        finite_key = None if finite is None else FiniteKey(finite, *finite_options)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    methods = [method] + [m.strip() for m in (compare or "").split(",") if m.strip() and m.strip() != method]
    curves, skipped = {}, []
    for name in methods:
        if name not in ("ltqc", "gllp", "rt", "lt", "best"):
            raise click.BadParameter(f"{name!r} is not a method (ltqc, gllp, rt, lt, best)", param_hint="--compare")
        try:
            curves[name] = key_rate(source, channel, name, finite_key, distance_km=distances, pz=pz)
        except ValueError as exc:
            if name == method:
                raise ConfigError(str(exc)) from None
            skipped.append(f"{name}: {exc}")
    regime = ("asymptotic" if finite_key is None else
              f"finite key, N = {finite_key.block_size:.3g}, {finite_key.concentration} concentration")
    return curves, f"{source.protocol}, {source.description}", skipped, regime


def _mdi_curves(protocol, model, leakage_models, leakage_intensity, delta, statistics, distances, fiber_loss,
                channel_options, intensities, pz):
    from ..analysis.mdi import MdiSetup, MdiSource, mdi_key_rate

    try:
        numbers = [int(m) for m in leakage_models.split(",")]
    except ValueError:
        raise click.BadParameter(f"{leakage_models!r}: give model numbers 1, 2, 3 (comma-separated)",
                                 param_hint="--leakage-model") from None
    curves = {}
    with point_progress(len(numbers) * len(distances), "MDI key rates (certified SDP per point)") as advance:
        try:
            setup = MdiSetup(fiber_loss, channel_options["detector_efficiency"], channel_options["dark_count_prob"])
            for number in numbers:
                if model is not None and leakage_intensity is None:
                    source = MdiSource.from_model(model, protocol, number)
                else:
                    source = MdiSource(protocol, number, leakage_intensity or 0.0, delta=delta or 0.0)
                curves[f"mdi {source.label}"] = mdi_key_rate(
                    source, setup, distances, decoys=intensities, statistics=statistics,
                    ec_efficiency=channel_options["ec_efficiency"], repetition_rate_hz=channel_options["rep_rate"],
                    pz=pz, on_point=lambda done, n, label=source.label: advance(f"{label}: {done}/{n} points"))
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    return curves


def _intensity_probabilities(intensities: tuple[float, ...] | None) -> tuple[float, ...]:
    if not intensities:
        return (1.0,)
    rest = (1.0 - 0.8) / (len(intensities) - 1)
    return (0.8,) + (rest,) * (len(intensities) - 1)


def _split_announcements(curves: dict) -> dict:
    """One curve per (method, announcement): MDI's Ψ+ and Ψ− keys are shown apart, never merged."""
    from ..analysis.keyrate import KeyRateCurve

    split = {}
    for name, curve in curves.items():
        for announcement in dict.fromkeys(curve.announcement):
            rows = [r for r in curve if r.announcement == announcement]
            split[name if announcement is None else f"{name} {announcement}"] = KeyRateCurve(rows)
    return split


def _write_csv(curves: dict) -> None:
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(["method", "announcement", "distance_km", "key_rate_bps", "key_rate_per_pulse", "phase_error",
                     "bit_error", "pz", "repetition_rate_hz", "solver_status", "certified", "winner", "coin_pair"])
    for name, curve in curves.items():
        for r in curve:
            writer.writerow([name, r.announcement or "", f"{r.distance_km:g}", f"{r.key_rate_bps:.6e}",
                             f"{r.key_rate_per_pulse:.6e}", f"{r.phase_error:.6e}", f"{r.bit_error:.6e}",
                             f"{r.parameters.get('pz', float('nan')):g}", f"{r.repetition_rate_hz:.6e}",
                             r.solver.status, r.solver.certified and not r.solver.conservative,
                             r.parameters.get("winner", r.method), r.parameters.get("coin_pair", "")])


def _print_table(curves: dict, title: str, skipped: list[str]) -> None:
    table = Table(title=f"Secret-key rate (bit/s) — {title}")
    table.add_column("km", justify="right", no_wrap=True)
    for name, curve in curves.items():
        table.add_column(f"{name}\nbit/s", justify="right", no_wrap=True)
        table.add_column(f"{name}\ne_ph", justify="right", no_wrap=True)
        if curve[0].method == "best":
            table.add_column(f"{name}\nwinner", no_wrap=True)
    first = next(iter(curves.values()))
    for i, result in enumerate(first):
        row = [f"{result.distance_km:g}"]
        for curve in curves.values():
            r = curve[i]
            row += [f"{r.key_rate_bps:.2e}" if r.key_rate_bps > 0 else "0", f"{r.phase_error:.4f}"]
            if r.method == "best":
                row.append(r.parameters["winner"])
        table.add_row(*row)
    console.print(table)
    for name, curve in curves.items():
        reports = [r.solver for r in curve]
        status = f"{reports[0].solver}: {reports[0].status}" + (", certified" if all(r.certified for r in reports) else "")
        conservative = [r for r in reports if r.conservative]
        if conservative:
            status += f" — CONSERVATIVE at {len(conservative)} point(s): {conservative[0].message}"
        used = "" if curve[0].method.startswith("mdi") else f"ε used {curve[0].epsilon:.3g}; "
        console.print(f"[bold]{name}[/]: max distance {curve.max_distance():g} km; {used}{status}")
        if curve[0].method == "best":
            console.print(f"    winners: {_winner_ranges(curve)}", highlight=False)
        zero = next((r for r in curve if r.key_rate_bps <= 0 and r.parameters.get("zero_reason")), None)
        if zero is not None:  # say which term made the rate zero, and what would restore key
            where = f"from {zero.distance_km:g} km" if zero.distance_km is not None else "here"
            console.print(f"    [yellow]zero key {where}[/]: {zero.parameters['zero_reason']}", highlight=False)
        for assumption in dict.fromkeys(a for r in curve for a in r.assumptions):   # every row's, once, in order
            console.print(f"    • {assumption}", highlight=False)
    for line in skipped:
        console.print(f"[yellow]skipped[/] {line}", highlight=False)


def _winner_ranges(curve) -> str:
    """E.g. "rt 0 km; ltqc 1-150 km": which method won where (method best)."""
    spans: list[list] = []
    for r in curve:
        if spans and spans[-1][0] == r.parameters["winner"]:
            spans[-1][2] = r.distance_km
        else:
            spans.append([r.parameters["winner"], r.distance_km, r.distance_km])
    return "; ".join(f"{w} {a:g} km" if a == b else f"{w} {a:g}-{b:g} km" for w, a, b in spans)


__all__ = ["keyrate_command", "parse_distances"]
