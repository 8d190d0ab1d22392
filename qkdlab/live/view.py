"""The live terminal view: current rate, QBER, phase-error bound, key so far, a sparkline, alarms.

:class:`LiveState` keeps what the view shows; :func:`render` turns it into a rich renderable. The
view is re-rendered on a timer as well as on every block, so a producer that stops is seen: the
last estimate stays on screen, marked STALE, once no block arrived for ``stale_after_s``.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from .estimator import Update

if TYPE_CHECKING:
    from .numerical import NumericalEstimate

__all__ = ["LiveState", "render", "sparkline"]

_BARS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float], width: int = 40) -> str:
    """Unicode bars of the last ``width`` values, scaled between their minimum and maximum."""
    recent = values[-width:]
    if not recent:
        return ""
    low, high = min(recent), max(recent)
    if high <= low:
        return _BARS[len(_BARS) // 2 if high > 0 else 0] * len(recent)
    return "".join(_BARS[min(int((v - low) / (high - low) * (len(_BARS) - 1) + 0.5), len(_BARS) - 1)]
                   for v in recent)


@dataclass
class LiveState:
    """Everything the view shows, updated block by block."""

    title: str
    method: str
    assumptions: tuple[str, ...]
    stale_after_s: float = 5.0
    last: Update | None = None
    last_time: float | None = None
    accepted: int = 0
    rejected: int = 0
    last_rejection: str = ""
    rates: list[float] = field(default_factory=list)
    alarms: deque = field(default_factory=lambda: deque(maxlen=4))
    finished: str = ""
    #: The newest mismatch-aware numerical estimate (a NumericalEstimate), with the block it belongs to.
    numerical: NumericalEstimate | None = None

    def add(self, update: Update) -> None:
        if not update.accepted:
            self.rejected += 1
            self.last_rejection = update.reason
            return
        self.accepted += 1
        self.last, self.last_time = update, time.monotonic()
        self.rates.append(update.block.key_rate_bps if update.block else 0.0)
        for alarm in update.alarms:
            self.alarms.append(f"block {update.index}: {alarm.message}")

    def stale(self) -> bool:
        return self.last_time is not None and time.monotonic() - self.last_time > self.stale_after_s


def render(state: LiveState) -> Panel:
    rows = Table.grid(padding=(0, 2))
    rows.add_column(style="bold")
    rows.add_column()
    last = state.last
    if last is None or last.block is None or last.accumulated is None:
        rows.add_row("status", "waiting for the first block …")
    else:
        block, total = last.block, last.accumulated
        age = "" if state.last_time is None else f"{time.monotonic() - state.last_time:.1f} s ago"
        status = Text(f"STALE — no block for {age}", style="bold yellow") if state.stale() else Text(
            f"block {last.index} ({age}), update {last.latency_s * 1e3:.1f} ms", style="green")
        rows.add_row("status", status)
        rows.add_row("key rate (this block)", f"{block.key_rate_bps:.4g} bit/s   ({block.key_length_bits:.4g} bits "
                                              f"from {block.emissions:.3g} pulses)")
        rows.add_row("QBER", f"{block.qber:.3%}")
        rows.add_row("phase-error bound", f"{block.phase_error:.4f} (block)   {total.phase_error:.4f} (all data)")
        if state.method == "best":
            rows.add_row("winning method", f"{block.winner} (block)   {total.winner} (all data)")
        rows.add_row("key so far (all data)", f"{total.key_length_bits:.5g} bits from {total.emissions:.4g} pulses "
                                              f"({total.key_rate_bps:.4g} bit/s)")
        rows.add_row("recent rate", Text(sparkline(state.rates), style="cyan"))
        why = total.result.parameters.get("zero_reason") or block.result.parameters.get("zero_reason")
        if total.key_length_bits <= 0 and why:  # a zero key says which term made it zero, and what would help
            rows.add_row("why no key", Text(str(why), style="yellow"))
    if state.numerical is not None:
        n = state.numerical
        behind = "" if last is None or n.block_index == last.index else f", latest block {last.index}"
        text = (f"{n.key_rate_bps:.4g} bit/s for block {n.block_index}{behind}, certified "
                f"{time.strftime('%H:%M:%S', time.localtime(n.certified_at))} ({n.seconds:.1f} s solve)")
        if n.reason:
            text += f" — {n.status}: {n.reason}"
        rows.add_row("mismatch-aware (asymptotic)", Text(text, style="magenta" if not n.reason else "yellow"))
    rows.add_row("blocks", f"{state.accepted} accepted, {state.rejected} rejected"
                           + (f" — last: {state.last_rejection}" if state.rejected else ""))
    parts: list = [rows]
    if state.alarms:
        parts.append(Text("\n".join(f"ALARM {a}" for a in state.alarms), style="bold red"))
    parts.append(Text("assumptions: " + "; ".join(state.assumptions), style="dim"))
    if state.finished:
        parts.append(Text(state.finished, style="bold"))
    return Panel(Group(*parts), title=f"qkdlab live — {state.title} ({state.method})", border_style="blue",
                 expand=False)  # sized to its content: a log's wide console must not stretch it
