"""Console helpers shared by the commands: the two consoles, error handling, progress, signals.

Every ``QkdlabError`` becomes one clear line on stderr and exit code 2 — never a traceback.
"""

from __future__ import annotations

import signal
import sys
from typing import Any

import click
from rich.console import Console
from rich.markup import escape

__all__ = ["console", "err_console", "QkdlabGroup", "RichProgress", "sigterm_as_interrupt", "progress_columns"]

console = Console()
err_console = Console(stderr=True)


class QkdlabGroup(click.Group):
    """A click group that turns qkdlab's errors into one line and a non-zero exit."""

    def invoke(self, ctx: click.Context) -> Any:
        from ..errors import QkdlabError

        try:
            return super().invoke(ctx)
        except QkdlabError as exc:
            err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, markup=True, soft_wrap=True)
            sys.exit(2)


class RichProgress:
    """Points done, rate and time left of a long job (a scan, the demo), on the terminal."""

    def __init__(self, progress: Any) -> None:
        self.progress = progress
        self.task: Any = None

    def start(self, total: int, description: str) -> None:
        self.task = self.progress.add_task(description, total=total)

    def advance(self, points: int = 1) -> None:
        if self.task is not None:
            self.progress.advance(self.task, points)


def progress_columns() -> tuple[Any, ...]:
    """The columns of every points progress bar: what, bar, done/total, time left."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn

    return (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("points"),
            TimeRemainingColumn())


def sigterm_as_interrupt() -> Any:
    """Make SIGTERM (``kill``) end a job like Ctrl-C; returns the previous handler to restore."""
    def terminate(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt
    return signal.signal(signal.SIGTERM, terminate)
