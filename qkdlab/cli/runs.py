"""``qkdlab runs`` and ``qkdlab plot``: what a data file holds, and each run's standard figure."""

from __future__ import annotations

import click
from rich.markup import escape
from rich.table import Table

from .console import console

__all__ = ["runs_command", "plot_command"]


@click.command("runs")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--repair", is_flag=True,
              help="If a killed writer left the file flagged open, recover it (dead runs marked failed, every "
                   "committed point kept) so plain h5py, xarray and NeXus viewers open it.")
def runs_command(file: str, repair: bool) -> None:
    """List the runs in an HDF5 FILE: kind, start time, status and points."""
    from ..store import Store

    store = Store(file)
    if repair:
        if store.needs_repair():
            marked = store.recover()
            console.print(f"[green]repaired[/] {escape(file)}: runs marked failed: {', '.join(marked) or 'none'}",
                          soft_wrap=True)
        else:
            console.print(f"{escape(file)} needs no repair (it opens in every HDF5 reader)", soft_wrap=True)
    runs = store.runs()
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


@click.command("plot")
@click.argument("file", type=click.Path(dir_okay=False))
@click.argument("run", required=False)
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Image file (default FILE-RUN.png; for a sweep study FILE.png).")
def plot_command(file: str, run: str | None, output: str | None) -> None:
    """Draw the standard figure of RUN (its name, e.g. run_0002, or number) in FILE, or of a sweep study FILE."""
    from pathlib import Path

    from ..scans import plot_run
    from ..store import Store
    from ..sweep import study_kind

    if study_kind(file):
        from .study_plots import plot_study

        if run is not None:
            raise click.UsageError(f"{file} is a sweep study (one figure, no runs): drop {run!r}")
        target = output or str(Path(file).with_suffix(".png"))
        console.print(f"{plot_study(file, target)} -> {target}", highlight=False)
        return
    if run is None:
        raise click.UsageError(f"give the run to plot (see qkdlab runs {file})")
    data = Store(file).read(run)
    target = output or str(Path(file).with_suffix("")) + f"-{data.name}.png"
    plot_run(data, target)
    console.print(f"{data.kind} {data.name} ({data.status}, {data.summary.points} points) -> {target}")
