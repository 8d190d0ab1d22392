"""``qkdlab bench``: bench configuration and instruments."""

from __future__ import annotations

import sys
from typing import Any

import click
from rich.table import Table

from .console import QkdlabGroup, console, err_console
from .options import TIMEOUT

__all__ = ["bench", "load_bench_config"]


@click.group(cls=QkdlabGroup)
def bench() -> None:
    """Bench configuration and instruments."""


def load_bench_config(config: str | None, sim: bool) -> Any:
    """The bench config a command names (or the built-in simulated one with ``--sim``), with its
    per-scan defaults checked against the scans' parameters before anything runs."""
    from ..config import builtin_sim_config, load_config
    from ..scans import check_config_scan_defaults

    if config is None:
        if not sim:
            raise click.UsageError("give a bench CONFIG file, or --sim for the built-in simulated bench")
        return check_config_scan_defaults(builtin_sim_config())
    return check_config_scan_defaults(load_config(config))


def probe_record_option() -> click.Option:
    """``--probe-record FILE``: a bench probe's record, whose unanswered optional queries the drivers skip."""
    return click.Option(["--probe-record"], type=click.Path(exists=True, dir_okay=False), default=None,
                        help="HDF5 file of 'qkdlab bench probe': drivers skip the optional queries it found unanswered.")


def unsupported_queries(probe_record: str | None) -> dict[str, set[str]] | None:
    """Instrument name -> unanswered optional queries of a probe record (None without one)."""
    if probe_record is None:
        return None
    from ..probe import read_probe

    return read_probe(probe_record).unsupported_by_instrument()


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


@bench.command("check", params=[probe_record_option()])
@click.argument("config", required=False, type=click.Path(dir_okay=False))
@click.option("--sim", is_flag=True, help="Run against the simulated bench (the built-in one without CONFIG).")
@click.option("--visa-library", type=click.Path(dir_okay=False), envvar="QKDLAB_VISA_LIBRARY",
              help="A VISA shared library to load, by path (a bench config may only name pyvisa's own backends; "
                   "also QKDLAB_VISA_LIBRARY).")
def bench_check(config: str | None, sim: bool, visa_library: str | None, probe_record: str | None) -> None:
    """Open every instrument of CONFIG, print identities and state; exit 1 naming any that does not answer."""
    from ..bench import Bench

    with Bench(load_bench_config(config, sim), simulate=sim, visa_library=visa_library,
               unsupported_queries=unsupported_queries(probe_record)) as the_bench:
        statuses = the_bench.check()
        print_bench_report(statuses)
    failed = [s.name for s in statuses if not s.ok]
    if failed:
        err_console.print(f"[bold red]not answering:[/] {', '.join(failed)}")
        sys.exit(1)
    console.print(f"[green]all {len(statuses)} instruments answered[/]")


@bench.command("probe")
@click.argument("config", required=False, type=click.Path(dir_okay=False))
@click.option("--sim", is_flag=True, help="Probe the simulated bench (the built-in one without CONFIG).")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False),
              help="HDF5 file the probe run (kind 'probe') is written to.")
@click.option("--allow-set", is_flag=True,
              help="Also write every setting back with the value just read (within the safety limits).")
@click.option("--timeout", default=2.0, show_default=True, type=TIMEOUT,
              help="Seconds each query may take before it counts as unanswered.")
@click.option("--visa-library", type=click.Path(dir_okay=False), envvar="QKDLAB_VISA_LIBRARY",
              help="A VISA shared library to load, by path (also QKDLAB_VISA_LIBRARY).")
def bench_probe(config: str | None, sim: bool, out: str, allow_set: bool, timeout: float,
                visa_library: str | None) -> None:
    """First contact with new hardware: identify each instrument of CONFIG, send every query its
    driver uses, and record answered / error / timeout with the raw reply in OUT (reads only unless
    --allow-set). Exit 1 when a command was not answered; send OUT back with a bug report."""
    from ..bench import Bench
    from ..probe import probe_bench

    with Bench(load_bench_config(config, sim), simulate=sim, visa_library=visa_library) as the_bench:
        record = probe_bench(the_bench, out, allow_set=allow_set, timeout=timeout,
                             progress=lambda name: err_console.print(f"probing {name} ..."))
    console.print(record.summary(), markup=False, highlight=False)
    console.print(f"probe record written to {out}")
    if not record.passed:
        sys.exit(1)
