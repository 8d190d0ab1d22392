"""The dashboard page: one Bokeh document per viewer, fed from the shared :class:`Board`.

Panels (every axis with its unit): finite-key rate per block and for all data so far (with the
finite-key security parameters in the title), secret bits accumulated, QBER in Z and X with the
alarm threshold, the phase-error bound, detection and dark-count rates per detector, the
estimator's latency. Above them an alarm banner (time, block and reason of the latest alarms),
the run's ε with its parts and provenance, and the status of the producer and the estimator
(last block, staleness, rejections, solver status and conservative fallbacks).

Each viewer's document is updated when :class:`.viewers.Viewers` says so (together with the other
pages, right after new blocks, a few times a second) and sends only what changed: new points are
streamed (``ColumnDataSource.stream``), the status at most once a second, and the whole
history (as binary arrays) only after the history merged old points (``History.generation``).
"""

from __future__ import annotations

import html
import time
from datetime import datetime, timezone

import numpy as np
from bokeh.document import Document
from bokeh.layouts import column, gridplot, row
from bokeh.models import ColumnDataSource, Div, HoverTool, Span
from bokeh.palettes import Category10_10
from bokeh.plotting import figure

from .board import Board
from .feed import RunInfo
from .rows import COLUMNS
from .viewers import Viewers

__all__ = ["build_document", "PANELS"]

#: name → (title, y-axis label with unit, [(column, legend)]); detector panels get their lines later.
PANELS: dict[str, tuple[str, str, list[tuple[str, str]]]] = {
    "keyrate": ("Finite-key rate", "secret-key rate (bit/s)",
                [("rate_bps", "this block"), ("total_rate_bps", "all data so far")]),
    "keybits": ("Secret bits accumulated", "secret key (bit)", [("total_bits", "all data so far")]),
    "qber": ("QBER", "QBER (%)", [("qber_z", "Z (key)"), ("qber_x", "X")]),
    "phase": ("Phase-error bound", "phase-error rate bound (%)",
              [("phase_error", "this block"), ("total_phase_error", "all data so far")]),
    "detections": ("Detection rate per detector", "detection rate (counts/s)", []),
    "dark": ("Dark-count rate per detector (vacuum-decoy slots)", "dark-count rate (counts/s)", []),
    "latency": ("Estimator time per block", "latency (ms)", [("latency_ms", "estimate")]),
}

#: The status line changes with every block (its time, counts, latency): sent at most this often,
#: since each change is one more message to every viewer.
_STATUS_EVERY_S = 1.0

_BANNER = {"background-color": "#b00020", "color": "white", "padding": "8px 12px", "font-size": "16px",
           "font-weight": "bold", "border-radius": "4px", "width": "100%"}


def _utc(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def info_html(info: RunInfo) -> str:
    parts = "".join(f"<tr><td>{html.escape(n)}</td><td>{u:.3g}</td><td>{html.escape(inv)}</td>"
                    f"<td>{html.escape(src)}</td></tr>" for n, u, inv, src in info.epsilon_parts)
    table = (f"<table><tr><th>ε part</th><th>upper bound</th><th>inventory</th><th>provenance</th></tr>{parts}"
             f"</table><div><small>{html.escape(info.epsilon_rule)}</small></div>") if parts else ""
    return (f"<h2>qkdlab live — {html.escape(info.title)}</h2>"
            f"<div>method <b>{html.escape(info.method)}</b>; source {html.escape(info.source)}; "
            f"<b>ε in use = {info.epsilon:.4g}</b> (source-model side-channel bound)</div>{table}"
            f"<div>finite key: ε_sec = {info.epsilon_sec:.1e}, ε_cor = {info.epsilon_cor:.1e}, "
            f"error-correction efficiency f = {info.ec_efficiency:g}; QBER alarm above "
            f"{info.qber_threshold:.2%}</div>"
            f"<div><small>assumptions: {html.escape('; '.join(info.assumptions))}</small></div>")


def status_html(board: Board, stale_after_s: float) -> str:
    age = board.status_age_s()
    if age is None:
        producer = html.escape(board.finished) if board.finished else "waiting for the first block"
    elif board.finished:
        producer = f"{html.escape(board.finished)}; last block {_utc(board.last_wall_time)}"  # type: ignore[arg-type]
    elif age > stale_after_s:
        producer = f"<b style='color:#b36b00'>STALE</b>: no block for {age:.0f} s (last {_utc(board.last_wall_time)})"  # type: ignore[arg-type]
    else:
        producer = f"last block {_utc(board.last_wall_time)} ({age:.0f} s ago)"  # type: ignore[arg-type]
    rejected = f", last reason: {html.escape(board.last_rejection)}" if board.rejected else ""
    dropped = f"; <b>{board.dropped} updates dropped (dashboard fell behind)</b>" if board.dropped else ""
    return (f"<div><b>producer</b>: {producer}</div>"
            f"<div><b>estimator</b>: {board.accepted} blocks accepted, {board.rejected} rejected{rejected}; "
            f"last update {board.last_latency_ms:.1f} ms, {board.last_block_pulses:.3g} pulses per block{dropped}</div>"
            f"<div><b>solver</b>: {html.escape(board.last_solver) or '—'}; conservative fallbacks: "
            f"{board.conservative}</div>")


def banner_html(board: Board) -> str:
    lines = "".join(f"<div>ALARM {_utc(t)} — block {index} ({kind}): {html.escape(message)}</div>"
                    for t, index, kind, message in reversed(board.alarms))
    return f"<div>{board.alarm_count} alarm(s) in this run; the latest:</div>{lines}"


def _figure(name: str, source: ColumnDataSource, x_range: object | None) -> figure:
    title, ylabel, lines = PANELS[name]
    options = {"x_range": x_range} if x_range is not None else {}
    fig = figure(name=name, title=title, x_axis_type="datetime", height=260, sizing_mode="stretch_width",
                 tools="pan,box_zoom,wheel_zoom,reset,save", **options)
    fig.xaxis.axis_label = "time (UTC)"
    fig.yaxis.axis_label = ylabel
    for i, (col, legend) in enumerate(lines):
        fig.line("time", col, source=source, legend_label=legend, color=Category10_10[i], line_width=2)
    fig.add_tools(HoverTool(tooltips=[("block", "@index"), ("blocks merged", "@width"), ("pulses", "@emissions"),
                                      ("value", "$y")], formatters={}))
    return fig


def build_document(doc: Document, board: Board, viewers: Viewers, *, stale_after_s: float = 5.0) -> None:
    """Fill one viewer's document and have ``viewers`` keep it following the board."""
    info = board.info
    source = ColumnDataSource(data={key: np.empty(0) for key in COLUMNS}, name="blocks")
    figures: dict[str, figure] = {}
    for name in PANELS:
        figures[name] = _figure(name, source, figures["keyrate"].x_range if figures else None)
    figures["keyrate"].title.text = (f"Finite-key rate (ε_sec = {info.epsilon_sec:.0e}, ε_cor = {info.epsilon_cor:.0e}, "
                                     f"f = {info.ec_efficiency:g}, {info.method})")
    figures["qber"].add_layout(Span(location=100 * info.qber_threshold, dimension="width", line_color="#b00020",
                                    line_dash="dashed", name="qber-threshold"))
    banner = Div(text="", name="alarm-banner", visible=False, styles=_BANNER, sizing_mode="stretch_width")
    status = Div(text=status_html(board, stale_after_s), name="status", sizing_mode="stretch_width")
    header = Div(text=info_html(info), name="run-info", sizing_mode="stretch_width")
    grid = gridplot([[figures["keyrate"], figures["keybits"]], [figures["qber"], figures["phase"]],
                     [figures["detections"], figures["dark"]], [figures["latency"], None]],
                    sizing_mode="stretch_width", merge_tools=False)
    layout = column(banner, row(header, status, sizing_mode="stretch_width"), grid, sizing_mode="stretch_width")
    seen = {"appended": 0, "generation": -1, "version": -1, "detectors": False, "status_at": -_STATUS_EVERY_S,
            "finished": ""}

    def follow_board() -> None:
        history = board.history
        if history.generation != seen["generation"]:
            source.data = dict(history.columns())
        elif history.appended > seen["appended"]:
            source.stream(history.since(seen["appended"]), rollover=history.capacity)
        seen.update(appended=history.appended, generation=history.generation, version=board.version)
        if not seen["detectors"] and board.detectors:
            for i, label in enumerate(board.detectors):
                for kind in ("detections", "dark"):
                    col = f"{'det' if kind == 'detections' else 'dark'}_{label}"
                    figures[kind].line("time", col, source=source, legend_label=label, color=Category10_10[i],
                                       line_width=2)
            seen["detectors"] = True
        if board.alarm_count:
            banner.text, banner.visible = banner_html(board), True

    def refresh() -> None:                # new blocks, and the status (its age and STALE also when none come)
        if board.version != seen["version"] and len(board.history):
            follow_board()
        now = time.monotonic()
        if now - seen["status_at"] >= _STATUS_EVERY_S or board.finished != seen["finished"]:  # once a second is enough
            text = status_html(board, stale_after_s)
            if text != status.text:
                status.text, seen["status_at"], seen["finished"] = text, now, board.finished

    # The run so far goes in before the layout joins the document: a change to a document re-walks
    # all its models (seconds for the detector lines of a new viewer), a change to a lone model does not.
    if len(board.history):
        follow_board()
    doc.add_root(layout)
    doc.title = f"qkdlab live — {info.title}"
    refresh()
    viewers.add(doc, refresh)
