"""A live session: blocks from a producer → estimator → view, log and history figure.

Ctrl-C ends the session cleanly: the block being estimated is finished or dropped whole, the log
is closed, the history figure is written, and the caller learns that the session was interrupted.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.live import Live

from ..interrupts import stop_reason
from .estimator import LiveEstimator, Update
from .link import Block, SimulatedLink
from .log import EstimateLog, plot_history
from .numerical import NumericalWorker
from .view import LiveState, render

__all__ = ["SessionResult", "run_session", "paced"]

#: How long a finished session waits for the numerical estimate of its last block.
_FINAL_WAIT_S = 60.0


@dataclass
class SessionResult:
    updates: list[Update]
    state: LiveState
    interrupted: bool
    log_path: Path
    png_path: Path | None
    #: Why the session stopped early ("" when the producer finished).
    stop_reason: str = ""


def paced(link: SimulatedLink, count: int | None, interval_s: float) -> Iterator[Block]:
    """The simulated link's blocks, one every ``interval_s`` (a real link's block cadence)."""
    for i, block in enumerate(link.blocks(count)):
        if i:
            time.sleep(interval_s)
        yield block


def run_session(estimator: LiveEstimator, blocks: Iterable[Block], *, title: str, log_path: str | Path,
                png_path: str | Path | None = None, console: Console | None = None, show: bool = True,
                stale_after_s: float = 5.0, numerical: NumericalWorker | None = None,
                observers: Sequence[Callable[[Update, Block], None]] = ()) -> SessionResult:
    """Estimate every block as it comes; see the module docstring for Ctrl-C.

    ``observers`` get every update with its block (e.g. the dashboard's feed); they must return at
    once, since the loop waits for them. ``numerical``: the optional mismatch-aware decoy
    estimator, fed each accepted block and polled, never waited for (except for the last block).
    """
    state = LiveState(title, estimator.method, estimator.assumptions, stale_after_s)
    interrupted, reason = False, ""
    live = Live(get_renderable=lambda: render(state), console=console, refresh_per_second=4) if show else None
    metadata = {"title": title, "method": estimator.method, "source": estimator.source_description,
                "epsilon_sec": estimator.epsilon_sec, "epsilon_cor": estimator.epsilon_cor}
    with EstimateLog(log_path, metadata) as log:
        try:
            with live if live is not None else contextlib.nullcontext():
                for block in blocks:
                    update = estimator.push(block)
                    state.add(update)
                    log.write(update)
                    for observer in observers:
                        observer(update, block)
                    if numerical is not None:
                        if update.accepted:
                            numerical.submit(update.index, block)
                        state.numerical = numerical.poll()
                if numerical is not None:        # the last block's numerical rate, not a stale one
                    state.numerical = numerical.wait(_FINAL_WAIT_S)
                state.finished = "producer finished" if not state.stale() else "producer finished (stale)"
        except KeyboardInterrupt as exc:
            interrupted, reason = True, stop_reason(exc)
            state.finished = f"{reason}: log closed"
        updates = log.rows
    if png_path is not None and any(u.accepted for u in updates):
        plot_history(updates, png_path, title)
    return SessionResult(updates, state, interrupted, Path(log_path), None if png_path is None else Path(png_path),
                         reason)
