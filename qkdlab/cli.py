"""The ``qkdlab`` command.

Every ``QkdlabError`` becomes one clear line on stderr and exit code 2 — never a traceback.
"""

from __future__ import annotations

import sys
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from . import __version__
from .errors import QkdlabError
from .units import linear_to_db

console = Console()
err_console = Console(stderr=True)


class _Group(click.Group):
    """A click group that turns qkdlab's errors into one line and a non-zero exit."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except QkdlabError as exc:
            err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, markup=True, soft_wrap=True)
            sys.exit(2)


@click.group(cls=_Group)
@click.version_option(__version__, prog_name="qkdlab")
def main() -> None:
    """qkdlab: drive, characterize and analyse a QKD transmitter bench (real or simulated)."""


@main.group(cls=_Group)
def bench() -> None:
    """Bench configuration and instruments."""


def _load(config: str | None, sim: bool) -> Any:
    from .config import builtin_sim_config, load_config

    if config is None:
        if not sim:
            raise click.UsageError("give a bench CONFIG file, or --sim for the built-in simulated bench")
        return builtin_sim_config()
    return load_config(config)


def _format_state(state: dict[str, Any] | None, indent: str = "") -> str:
    if not state:
        return ""
    lines = []
    for key, entry in state.items():
        if isinstance(entry, dict) and "value" in entry:
            unit = f" {entry['unit']}" if entry.get("unit") else ""
            value = entry["value"]
            text = f"{value:.6g}" if isinstance(value, float) else str(value)
            lines.append(f"{indent}{key} = {text}{unit}")
        elif isinstance(entry, dict):
            lines.append(f"{indent}{key}:")
            lines.append(_format_state(entry, indent + "  "))
    return "\n".join(line for line in lines if line)


def print_bench_report(statuses: list[Any]) -> None:
    """A table of every instrument: name, driver, resource, identity or error, and its settings."""
    table = Table(title="Bench instruments", show_lines=True)
    for column in ("instrument", "driver", "resource", "identity", "state"):
        table.add_column(column, overflow="fold")
    for status in statuses:
        identity = status.identity if status.ok else f"[red]NOT ANSWERING: {status.error}[/]"
        state = _format_state(status.state) or (f"[yellow]{status.error}[/]" if status.ok and status.error else "")
        table.add_row(status.name, status.driver, status.resource, identity, state)
    console.print(table)


@bench.command("check")
@click.argument("config", required=False, type=click.Path(dir_okay=False))
@click.option("--sim", is_flag=True, help="Run against the simulated bench (the built-in one without CONFIG).")
def bench_check(config: str | None, sim: bool) -> None:
    """Open every instrument of CONFIG, print identities and state; exit 1 naming any that does not answer."""
    from .bench import Bench

    with Bench(_load(config, sim), simulate=sim) as the_bench:
        statuses = the_bench.check()
        print_bench_report(statuses)
    failed = [s.name for s in statuses if not s.ok]
    if failed:
        err_console.print(f"[bold red]not answering:[/] {', '.join(failed)}")
        sys.exit(1)
    console.print(f"[green]all {len(statuses)} instruments answered[/]")


# -- data files ----------------------------------------------------------------------------------------
@main.command("runs")
@click.argument("file", type=click.Path(dir_okay=False))
def runs_command(file: str) -> None:
    """List the runs in an HDF5 FILE: kind, start time, status and points."""
    from .store import Store

    runs = Store(file).runs()
    table = Table(title=f"runs in {file}")
    for column in ("run", "kind", "started", "status", "points", "reason"):
        table.add_column(column, overflow="fold")
    colours = {"completed": "green", "running": "cyan", "aborted": "yellow", "failed": "red"}
    for run in runs:
        colour = colours.get(run.status, "white")
        started = run.start_time[:19].replace("T", " ")
        table.add_row(run.name, escape(run.kind), started, f"[{colour}]{run.status}[/]", str(run.points),
                      escape(run.reason))
    console.print(table if runs else f"{file}: no runs yet")


@main.command("plot")
@click.argument("file", type=click.Path(dir_okay=False))
@click.argument("run")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Image file (default FILE-RUN.png).")
def plot_command(file: str, run: str, output: str | None) -> None:
    """Draw the standard figure of RUN (its name, e.g. run_0002, or number) in FILE."""
    from pathlib import Path

    from .scans import plot_run
    from .store import Store

    data = Store(file).read(run)
    target = output or str(Path(file).with_suffix("")) + f"-{data.name}.png"
    plot_run(data, target)
    console.print(f"{data.kind} {data.name} ({data.status}, {data.summary.points} points) -> {target}")


@main.command("calibrate")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--runs", help="Comma-separated runs to use (default: the newest completed run of each kind).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Model JSON (default FILE-model.json).")
@click.option("--confidence", default=0.99, show_default=True, help="Confidence of each bound (1 - failure).")
@click.option("--mu", "mean_photon_number", default=0.5, show_default=True,
              help="Operating mean photon number per signal pulse (scales the leakage light).")
@click.option("--rep-rate", help="Source repetition rate, e.g. '1 GHz' (default: the scans' pulse rate).")
@click.option("--damage-threshold", default="lucamarini-lidt", show_default=True,
              help="Photons/s Eve can inject before damage: a preset (lucamarini-lidt, softening-point), "
                   "a number of photons/s, or a power such as '2 W'.")
@click.option("--mode-dependence", type=float, help="A bound on the mode-dependence part of ε, if known.")
@click.option("--passive-attenuation", type=float,
              help="dB of the output chain the isolation scan did not probe (passed twice by Trojan-horse light); "
                   "default: the value the isolation run recorded (unprobed_attenuation).")
@click.option("--allow-partial", is_flag=True, help="Use aborted/failed runs and missing side channels (marked).")
def calibrate_command(file: str, runs: str | None, output: str | None, confidence: float, mean_photon_number: float,
                      rep_rate: str | None, damage_threshold: str, mode_dependence: float | None,
                      passive_attenuation: float | None, allow_partial: bool) -> None:
    """Turn the characterization runs in FILE into a SourceModel (JSON, and a calibration group in FILE)."""
    from pathlib import Path

    from .calibration.calibrate import CalibrationOptions, calibrate_file
    from .calibration.isolation import DAMAGE_PRESETS, photon_rate
    from .calibration.persist import write_model_to_hdf5
    from .calibration.report import model_report
    from .errors import ConfigError
    from .units import Q_

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
    options = CalibrationOptions(confidence=confidence, mean_photon_number=mean_photon_number,
                                 repetition_rate_hz=rate, damage_photons_per_s=photons, damage_source=source,
                                 mode_dependence_bound=mode_dependence, passive_attenuation_db=passive_attenuation,
                                 allow_partial=allow_partial)
    model = calibrate_file(file, [r.strip() for r in runs.split(",")] if runs else None, options)
    target = output or str(Path(file).with_suffix("")) + "-model.json"
    model.save(target)
    group = write_model_to_hdf5(file, model)
    console.print(model_report(model))
    console.print(f"[green]source model[/] -> {escape(target)} and {escape(file)}:/{group}")


class _RichProgress:
    """Points done, rate and time left of a scan, on the terminal."""

    def __init__(self, progress: Any) -> None:
        self.progress = progress
        self.task: Any = None

    def start(self, total: int, description: str) -> None:
        self.task = self.progress.add_task(description, total=total)

    def advance(self, points: int = 1) -> None:
        if self.task is not None:
            self.progress.advance(self.task, points)


def _scan_command(kind: str) -> click.Command:
    """A ``qkdlab scan <kind>`` command with one option per scan parameter."""
    from .scans import scan_module

    module = scan_module(kind)

    def callback(bench_config: str | None, sim: bool, out: str, **values: Any) -> None:
        import signal

        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        from .bench import Bench
        from .scans import run_scan
        from .store import Store

        if bench_config is None and not sim:
            raise click.UsageError("give --bench CONFIG, or --sim for the built-in simulated bench")
        given = {key: value for key, value in values.items() if value is not None}

        def terminate(signum: int, frame: Any) -> None:
            raise KeyboardInterrupt  # `kill` ends the run as aborted, like Ctrl-C

        previous = signal.signal(signal.SIGTERM, terminate)
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("points"),
                   TimeRemainingColumn())
        store = Store(out)
        try:
            with Bench(_load(bench_config, sim), simulate=sim).open() as the_bench, \
                    Progress(*columns, console=err_console, transient=False) as bar:
                summary = run_scan(kind, the_bench, store, progress=_RichProgress(bar), **given)
        except KeyboardInterrupt:
            last = store.runs()[-1] if store.path.exists() else None
            kept = f"; {last.name} in {out} keeps its {last.points} points (status {last.status})" if last else ""
            err_console.print(f"[yellow]scan interrupted{escape(kept)}[/]")
            sys.exit(130)
        finally:
            signal.signal(signal.SIGTERM, previous)
        colour = "green" if summary.status == "completed" else "red"
        console.print(f"[{colour}]{kind}: {summary.name} {summary.status}[/], {summary.points} points -> "
                      + escape(out + (f" ({summary.reason})" if summary.reason else "")))
        for key, value in module.quicklook(store.read(summary.name)).items():
            console.print(f"  {key}: {value}")
        console.print(f"  figure: qkdlab plot {out} {summary.name} -o {summary.name}.png")

    params: list[click.Parameter] = [
        click.Option(["--bench", "bench_config"], type=click.Path(dir_okay=False), help="Bench config YAML."),
        click.Option(["--sim"], is_flag=True, help="Use the simulated bench (the built-in one without --bench)."),
        click.Option(["--out"], required=True, type=click.Path(dir_okay=False),
                     help="HDF5 file to add the run to (created if missing)."),
    ]
    for spec in module.PARAMETERS:
        params.append(click.Option([f"--{spec.name.replace('_', '-')}", spec.name], default=None,
                                   help=spec.describe()))
    return click.Command(kind, callback=callback, params=params, help=module.TITLE + ".\n\n"
                         + (module.__doc__ or "").split("\n\n", 1)[-1].strip().split("\n\n")[0],
                         short_help=module.TITLE)


class _ScanGroup(_Group):
    """``qkdlab scan <kind>``: one subcommand per characterization scan, built from its parameters."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        from .scans import SCANS

        return list(SCANS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        from .scans import SCANS

        return _scan_command(name) if name in SCANS else None


@main.group(cls=_ScanGroup)
def scan() -> None:
    """Run a characterization scan into an HDF5 file (see `qkdlab scan KIND --help`)."""


def _register_commands() -> None:
    from .cli_keyrate import keyrate_command
    from .cli_live import demo_command, live_command

    for command in (keyrate_command, live_command, demo_command):
        main.add_command(command)


_register_commands()

if __name__ == "__main__":
    main()
