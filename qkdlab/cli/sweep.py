"""``qkdlab sweep``: a design study over a parameter grid, on this machine or a dask cluster."""

from __future__ import annotations

import signal
import sys
from typing import Any

import click

from .console import console, err_console, sigterm_as_interrupt

__all__ = ["sweep_command"]


def _columns() -> tuple[Any, ...]:
    """Bar, done/total, points per second, time left, failures."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn

    return (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("points"),
            TextColumn("{task.fields[rate]}"), TimeRemainingColumn(),
            TextColumn("{task.fields[failed]} failed"))


@click.command("sweep")
@click.argument("spec_path", metavar="SPEC", type=click.Path(dir_okay=False))
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False),
              help="Study file (HDF5). Created, or resumed when it exists (same spec only).")
@click.option("--scheduler", help="Address of a running dask scheduler (e.g. tcp://10.0.0.5:8786); "
                                  "default: a local cluster for this run.")
@click.option("--workers", type=click.IntRange(min=1), help="Local worker processes [default: one per core].")
def sweep_command(spec_path: str, out: str, scheduler: str | None, workers: int | None) -> None:
    """Compute the secure key rate at every point of the grid in SPEC (YAML) into a study file.

    Points already in --out are kept and only the missing ones are computed, so an interrupted
    sweep (Ctrl-C, kill, a lost worker) is finished by running the same command again. Parameters
    listed under ``optimise:`` are chosen per point to maximise the rate; every stored rate is the
    full security analysis at the chosen parameters, a secure lower bound.
    """
    import time

    from rich.progress import Progress

    from ..sweep import load_spec, run_sweep

    if scheduler is not None and workers is not None:
        raise click.UsageError("--workers sizes the local cluster; with --scheduler the cluster has its own workers")
    spec = load_spec(spec_path)
    previous = sigterm_as_interrupt()
    try:
        with Progress(*_columns(), console=err_console, transient=False, refresh_per_second=2) as bar:
            task = bar.add_task(spec.name, total=spec.size, rate="", failed=0)
            first: list[tuple[int, float]] = []

            def progress(done: int, failed: int, total: int) -> None:
                now = time.monotonic()
                if not first:
                    first.append((done + failed, now))
                new, since = done + failed - first[0][0], now - first[0][1]
                rate = f"{new / since:.1f}/s" if since > 0 and new else ""
                bar.update(task, completed=done + failed, rate=rate, failed=failed)

            summary = run_sweep(spec, out, scheduler=scheduler, workers=workers, progress=progress)
    finally:
        signal.signal(signal.SIGTERM, previous)
    where = f"scheduler {scheduler}" if scheduler else f"{summary.workers} local worker(s)"
    console.print(f"{out}: {summary.done}/{summary.total} points done, {summary.failed} failed; computed "
                  f"{summary.computed} now in {summary.seconds:.1f} s" + (f" on {where}" if summary.computed else ""),
                  highlight=False)
    for reason in summary.lost_chunks[:3]:
        err_console.print(f"[yellow]lost[/] a chunk whose workers kept dying: {reason}", highlight=False)
    if summary.failed:
        console.print(f"failed points keep their reason in {out} (failure_reason)", highlight=False)
    if summary.interrupted or summary.missing:
        err_console.print(f"{summary.missing} points still missing; run the same command again to resume",
                          highlight=False)
        sys.exit(130 if summary.interrupted else 1)
