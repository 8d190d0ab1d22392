"""``qkdlab calibrate``: characterization runs -> SourceModel."""

from __future__ import annotations

import click
from rich.markup import escape

from .console import console, err_console
from .options import CONFIDENCE, NON_NEGATIVE, POSITIVE, PROBABILITY

__all__ = ["calibrate_command"]


@click.command("calibrate")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--runs", help="Comma-separated runs to use (default: the newest completed run of each kind).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Model JSON (default FILE-model.json).")
@click.option("--confidence", default=0.99, show_default=True, type=CONFIDENCE,
              help="Confidence of each bound (1 - failure).")
@click.option("--mu", "mean_photon_number", default=0.5, show_default=True, type=POSITIVE,
              help="Operating mean photon number per signal pulse (scales the leakage light).")
@click.option("--rep-rate", help="Source repetition rate, e.g. '1 GHz' (default: the scans' pulse rate).")
@click.option("--damage-threshold", default="lucamarini-lidt", show_default=True,
              help="Photons/s Eve can inject before damage: a preset (lucamarini-lidt, softening-point), "
                   "a number of photons/s, or a power such as '2 W'.")
@click.option("--mode-dependence", type=PROBABILITY,
              help="A stated bound on the mode-dependence part of ε; it replaces the value a mode-dependence run "
                   "measured (recorded as stated, with the measured value kept in the model).")
@click.option("--passive-attenuation", type=NON_NEGATIVE,
              help="dB of the output chain the isolation scan did not probe (passed twice by Trojan-horse light); "
                   "default: the value the isolation run recorded (unprobed_attenuation).")
@click.option("--allow-partial", is_flag=True, help="Use aborted/failed runs and missing side channels (marked).")
def calibrate_command(file: str, runs: str | None, output: str | None, confidence: float, mean_photon_number: float,
                      rep_rate: str | None, damage_threshold: str, mode_dependence: float | None,
                      passive_attenuation: float | None, allow_partial: bool) -> None:
    """Turn the characterization runs in FILE into a SourceModel (JSON, and a calibration group in FILE)."""
    import math
    from contextlib import nullcontext
    from pathlib import Path

    from ..calibration.calibrate import CalibrationOptions, calibrate_file
    from ..calibration.isolation import DAMAGE_PRESETS, photon_rate
    from ..calibration.persist import write_model_to_hdf5
    from ..calibration.report import model_report
    from ..errors import ConfigError
    from ..units import Q_

    try:
        rate = Q_(rep_rate).to("Hz").magnitude if rep_rate else None
        if damage_threshold in DAMAGE_PRESETS:
            photons, source = DAMAGE_PRESETS[damage_threshold]
        elif any(ch.isalpha() for ch in damage_threshold):
            photons = photon_rate(Q_(damage_threshold).to("W").magnitude, 1550e-9)
            source = f"stated by the user: {damage_threshold} at 1550 nm"
        else:
            photons, source = float(damage_threshold), "stated by the user (photons/s)"
    except Exception as exc:  # pint and float parsing errors: say which option
        raise ConfigError(f"cannot read --rep-rate/--damage-threshold: {exc}") from None
    for option, value in (("--rep-rate", rate), ("--damage-threshold", photons)):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise ConfigError(f"{option}: {value:g} is not accepted; give a positive, finite value")
    options = CalibrationOptions(confidence=confidence, mean_photon_number=mean_photon_number,
                                 repetition_rate_hz=rate, damage_photons_per_s=photons, damage_source=source,
                                 mode_dependence_bound=mode_dependence, passive_attenuation_db=passive_attenuation,
                                 allow_partial=allow_partial)
    with err_console.status("calibrating", spinner="dots") if err_console.is_terminal else nullcontext() as status:
        def stage(what: str) -> None:
            if status is not None:
                status.update(f"calibrating: {what}")
            else:
                err_console.print(f"calibrating: {what}", highlight=False)
        model = calibrate_file(file, [r.strip() for r in runs.split(",")] if runs else None, options, on_stage=stage)
    target = output or str(Path(file).with_suffix("")) + "-model.json"
    model.save(target)
    group = write_model_to_hdf5(file, model)
    console.print(model_report(model))
    console.print(f"[green]source model[/] -> {escape(target)} and {escape(file)}:/{group}")
