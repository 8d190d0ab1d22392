"""Console helpers shared by the commands: the two consoles, error handling, progress, signals.

Every ``QkdlabError`` becomes one clear line on stderr and exit code 2 — never a traceback.
"""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Callable, Iterator
from typing import Any

import click
from rich.console import Console
from rich.markup import escape

__all__ = ["console", "err_console", "section", "print_error", "QkdlabGroup", "RichProgress", "sigterm_as_interrupt", "progress_columns"]

#: Width of output that is not a terminal (a log file, CI, a pipe): wide enough that tables keep
#: their natural size and no header or word is ever cut; text lines are never wrapped.
PIPE_WIDTH = 1000


def _console(stderr: bool = False) -> Console:
    plain = Console(stderr=stderr)
    return plain if plain.is_terminal else Console(stderr=stderr, width=PIPE_WIDTH, soft_wrap=True)


console = _console()
err_console = _console(stderr=True)


def section(title: str) -> None:
    """A section heading: a rule across a terminal, one plain line in a log."""
    if console.is_terminal:
        console.rule(f"[bold]{title}")
    else:
        console.print(f"== {title} ==", highlight=False)


def print_error(message: str) -> None:
    """One ``error: …`` line on stderr, never wrapped (a log or a pipe reads it whole)."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, markup=True, soft_wrap=True)


class QkdlabGroup(click.Group):
    """A click group that turns qkdlab's errors, and click's usage errors, into one line and exit 2."""

    def invoke(self, ctx: click.Context) -> Any:
        from ..errors import QkdlabError

        try:
            return super().invoke(ctx)
        except QkdlabError as exc:
            print_error(str(exc))
            sys.exit(2)

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as exc:
            command = exc.ctx.command_path if exc.ctx is not None else "qkdlab"
            print_error(f"{exc.format_message()} (see `{command} --help`)")
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            print_error(exc.format_message())
            sys.exit(exc.exit_code)
        except click.Abort:
            print_error("aborted")
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


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


@contextlib.contextmanager
def point_progress(total: int, description: str) -> Iterator[Callable[[str], None]]:
    """Progress of a long computation: a bar on a terminal, one line per step otherwise (a log).

    Yields ``advance(what)``, to call after each step.
    """
    if err_console.is_terminal:
        from rich.progress import Progress

        with Progress(*progress_columns(), console=err_console, transient=True) as bar:
            task = bar.add_task(description, total=total)
            yield lambda what: bar.advance(task)
        return
    err_console.print(f"{description}: {total} points", highlight=False)
    yield lambda what: err_console.print(f"  {what}", highlight=False)


def sigterm_as_interrupt() -> Any:
    """Make SIGTERM (``kill``) end a job like Ctrl-C, recorded as SIGTERM; returns the previous handler."""
    from ..interrupts import Terminated

    def terminate(signum: int, frame: Any) -> None:
        raise Terminated("SIGTERM")
    return signal.signal(signal.SIGTERM, terminate)
