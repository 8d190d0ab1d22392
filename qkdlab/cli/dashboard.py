"""``qkdlab dashboard FILE`` (the browser view of a recorded or running qkd-link run) and the serving
shared with ``qkdlab live --serve``."""

from __future__ import annotations

import contextlib
import itertools
import signal
import time
from collections.abc import Iterator
from typing import Any

import click

from .console import console, err_console, sigterm_as_interrupt
from .options import CONFIDENCE, POSITIVE, PROBABILITY

__all__ = ["dashboard_command", "serving", "serve_options", "wait_for_ctrl_c"]


def serve_options(command: Any) -> Any:
    """``--host`` and ``--port`` of a command that serves the dashboard."""
    command = click.option("--port", default=8050, show_default=True, type=click.IntRange(0, 65535),
                           help="Port of the dashboard (0: any free port).")(command)
    return click.option("--host", default="127.0.0.1", show_default=True,
                        help="Address to serve the dashboard on; any address but loopback requires the printed "
                             "access token.")(command)


@contextlib.contextmanager
def serving(feed: Any, host: str, port: int, stale_after_s: float) -> Iterator[Any]:
    """Start the dashboard server, print its URL once (with the token) and stop it at the end."""
    from ..dashboard import DashboardServer

    server = DashboardServer(feed, host=host, port=port, stale_after_s=stale_after_s)
    if not server.loopback:
        err_console.print(f"[bold yellow]warning:[/] serving the dashboard on {host}, reachable from other "
                          "machines; only browsers given the token below can open it. Traffic is plain HTTP: use "
                          "this only on a trusted lab network.", highlight=False)
    with server:
        console.print(f"dashboard: {server.url}", highlight=False, soft_wrap=True)
        yield server


def make_estimator(model: Any, method: str, eps_sec: float, eps_cor: float, qber_alarm: float) -> Any:
    """The live estimator of ``qkdlab live`` and ``qkdlab dashboard``; a bad option is a one-line ConfigError."""
    from ..errors import ConfigError
    from ..live import AlarmPolicy, LiveEstimator

    try:
        return LiveEstimator(model, method, epsilon_sec=eps_sec, epsilon_cor=eps_cor,
                             alarms=AlarmPolicy(qber_threshold=qber_alarm))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def wait_for_ctrl_c(message: str) -> None:
    """Keep serving (the page stays readable) until Ctrl-C or SIGTERM."""
    console.print(message, highlight=False)
    with contextlib.suppress(KeyboardInterrupt):
        while True:
            time.sleep(1.0)


@click.command("dashboard")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--model", "model_path", required=True, type=click.Path(dir_okay=False),
              help="SourceModel JSON (or HDF5 with a calibration) to estimate the run with.")
@click.option("--run", "run_name", help="The qkd-link run (default: the newest in the file).")
@click.option("--method", default="ltqc", show_default=True, type=click.Choice(["ltqc", "gllp", "rt", "lt"]))
@click.option("--qber-alarm", default=0.05, show_default=True, type=PROBABILITY, help="QBER above which an alarm is raised.")
@click.option("--stale-after", default=5.0, show_default=True, type=POSITIVE, help="Seconds without a block before STALE.")
@click.option("--eps-sec", default=1e-10, show_default=True, type=CONFIDENCE, help="Secrecy parameter ε_sec.")
@click.option("--eps-cor", default=1e-10, show_default=True, type=CONFIDENCE, help="Correctness parameter ε_cor.")
@serve_options
def dashboard_command(path: str, model_path: str, run_name: str | None, method: str, qber_alarm: float,
                      stale_after: float, eps_sec: float, eps_cor: float, host: str, port: int) -> None:
    """Serve the live dashboard for a qkd-link run recorded in PATH.

    A finished run is replayed at once; a run another process is still writing is followed (SWMR)
    block by block until its writer ends it. The page stays up until Ctrl-C.
    """
    from ..calibration import load_source_model
    from ..dashboard import Feed, RunInfo, estimate_into
    from ..live import follow_link_run

    model = load_source_model(model_path)
    estimator = make_estimator(model, method, eps_sec, eps_cor, qber_alarm)
    blocks = follow_link_run(path, run_name, poll_s=0.2)
    first = next(blocks, None)                 # a bad file fails here, before anything is served
    feed = Feed(RunInfo.from_estimator(estimator, f"run in {path}", model))
    previous = sigterm_as_interrupt()
    try:
        with serving(feed, host, port, stale_after):
            try:
                count = estimate_into(feed, estimator, [] if first is None else itertools.chain([first], blocks))
            except KeyboardInterrupt:
                return
            wait_for_ctrl_c(f"{count} blocks estimated; the run has ended. Serving until Ctrl-C.")
    finally:
        signal.signal(signal.SIGTERM, previous)
