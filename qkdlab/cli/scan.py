"""``qkdlab scan KIND``: one subcommand per characterization scan, built from its parameters."""

from __future__ import annotations

import sys
from typing import Any

import click
from rich.markup import escape

from .bench import load_bench_config, probe_record_option, unsupported_queries
from .console import QkdlabGroup, RichProgress, console, err_console, progress_columns, sigterm_as_interrupt

__all__ = ["scan"]


def _scan_command(kind: str) -> click.Command:
    """A ``qkdlab scan <kind>`` command with one option per scan parameter."""
    from ..scans import scan_module

    module = scan_module(kind)

    def callback(bench_config: str | None, sim: bool, out: str, visa_library: str | None, probe_record: str | None,
                 **values: Any) -> None:
        import signal

        from rich.progress import Progress

        from ..bench import Bench
        from ..scans import run_scan
        from ..store import Store

        if bench_config is None and not sim:
            raise click.UsageError("give --bench CONFIG, or --sim for the built-in simulated bench")
        given = {key: value for key, value in values.items() if value is not None}

        previous = sigterm_as_interrupt()  # `kill` ends the run as aborted, like Ctrl-C
        store = Store(out)
        try:
            with Bench(load_bench_config(bench_config, sim), simulate=sim, visa_library=visa_library,
                       unsupported_queries=unsupported_queries(probe_record)).open() as the_bench, \
                    Progress(*progress_columns(), console=err_console, transient=False) as bar:
                summary = run_scan(kind, the_bench, store, progress=RichProgress(bar), **given)
        except KeyboardInterrupt:
            last = store.runs()[-1] if store.path.exists() else None
            kept = f"; {last.name} in {out} keeps its {last.points} points (status {last.status})" if last else ""
            err_console.print(f"[yellow]scan interrupted{escape(kept)}[/]")
            sys.exit(130)
        finally:
            signal.signal(signal.SIGTERM, previous)
        colour = "green" if summary.status == "completed" else "red"
        run = store.read(summary.name)
        counts = {group: min(len(v) for k, v in values.items() if k not in run.fixed.get(group, set()))
                  for group, values in run.groups.items() if values}
        default = str(run.attrs.get("default", ""))
        taken = (f"{sum(counts.values())} points ({summary.points} in {default}, "
                 + ", ".join(f"{n} in {g}" for g, n in counts.items() if g != default) + ")"
                 if len(counts) > 1 else f"{summary.points} points")
        console.print(f"[{colour}]{kind}: {summary.name} {summary.status}[/], {taken} -> "
                      + escape(out + (f" ({summary.reason})" if summary.reason else "")))
        for key, value in module.quicklook(run).items():
            console.print(f"  {key}: {value}")
        console.print(f"  figure: qkdlab plot {out} {summary.name} -o {summary.name}.png")

    params: list[click.Parameter] = [
        click.Option(["--bench", "bench_config"], type=click.Path(dir_okay=False), help="Bench config YAML."),
        click.Option(["--sim"], is_flag=True, help="Use the simulated bench (the built-in one without --bench)."),
        click.Option(["--out"], required=True, type=click.Path(dir_okay=False),
                     help="HDF5 file to add the run to (created if missing)."),
        click.Option(["--visa-library"], type=click.Path(dir_okay=False), envvar="QKDLAB_VISA_LIBRARY",
                     help="A VISA shared library to load, by path (never taken from a bench config)."),
        probe_record_option(),
    ]
    for spec in module.PARAMETERS:
        params.append(click.Option([f"--{spec.name.replace('_', '-')}", spec.name], default=None,
                                   help=spec.describe()))
    return click.Command(kind, callback=callback, params=params, help=_procedure_help(module),
                         short_help=module.TITLE)


def _procedure_help(module: Any) -> str:
    """The scan's title and its whole procedure (the module docstring after its first line).

    Numbered steps and lists keep their lines (click's ``\\b`` marker); prose is rewrapped.
    """
    body = (module.__doc__ or "").split("\n\n", 1)[-1].strip().replace("``", "")
    paragraphs = []
    for paragraph in body.split("\n\n"):
        first = paragraph.lstrip()[:3]
        listed = first[:1].isdigit() or first.startswith(("- ", "* "))
        paragraphs.append("\b\n" + paragraph if listed else paragraph)
    return module.TITLE + ".\n\n" + "\n\n".join(paragraphs)


class _ScanGroup(QkdlabGroup):
    """``qkdlab scan <kind>``: one subcommand per characterization scan, built from its parameters."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        from ..scans import SCANS

        return list(SCANS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        from ..scans import SCANS

        return _scan_command(name) if name in SCANS else None


@click.group(cls=_ScanGroup)
def scan() -> None:
    """Run a characterization scan into an HDF5 file (see `qkdlab scan KIND --help`)."""
