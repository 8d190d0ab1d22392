"""The ``qkdlab`` command.

Every ``QkdlabError`` becomes one clear line on stderr and exit code 2 — never a traceback.
"""

from __future__ import annotations

import sys
from typing import Any

import click
from rich.console import Console
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
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True)
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


@main.command()
@click.option("--points", default=17, show_default=True, help="Bias points in the intensity-modulator sweep.")
def demo(points: int) -> None:
    """Run the main job on the built-in simulated bench.

    Opens the simulated bench, prints every instrument's identity and state, and sweeps the
    intensity-modulator bias while reading the output power (the transfer curve behind the
    extinction-ratio characterization).
    """
    from .bench import Bench
    from .config import builtin_sim_config
    from .demo import bias_sweep

    with Bench(builtin_sim_config(), simulate=True) as the_bench:
        console.rule("[bold]qkdlab demo: simulated transmitter bench")
        statuses = the_bench.check()
        print_bench_report(statuses)
        rows = bias_sweep(the_bench, points=points)
    table = Table(title="Intensity-modulator bias sweep (output-tap power)")
    table.add_column("bias (V)", justify="right")
    table.add_column("power (W)", justify="right")
    table.add_column("power (dBm)", justify="right")
    for bias_v, power_w, power_dbm in rows:
        table.add_row(f"{bias_v:+.2f}", f"{power_w:.4e}", f"{power_dbm:.2f}")
    console.print(table)
    powers = [r[1] for r in rows]
    ratio = max(powers) / max(min(powers), 1e-15)
    console.print(f"max/min power over the sweep: {linear_to_db(ratio):.1f} dB "
                  "(a coarse view of the extinction ratio; the extinction-ratio scan measures it properly)")


if __name__ == "__main__":
    main()
