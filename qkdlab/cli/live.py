"""``qkdlab live``: rolling finite-key estimates while the link runs."""

from __future__ import annotations

import contextlib
import signal
import sys
from typing import Any

import click

from .console import console, sigterm_as_interrupt
from .dashboard import make_estimator, serve_options, serving, wait_for_ctrl_c
from .options import CONFIDENCE, FINITE, NON_NEGATIVE, POSITIVE, PROBABILITY


@click.command("live")
@click.option("--model", "model_path", required=True, type=click.Path(dir_okay=False),
              help="SourceModel JSON (or HDF5 with a calibration).")
@click.option("--sim", is_flag=True, help="Estimate blocks from a simulated link.")
@click.option("--follow", "follow_path", type=click.Path(dir_okay=False),
              help="Follow a qkd-link run that another process writes into this HDF5 file.")
@click.option("--run", "run_name", help="The qkd-link run to follow (default: the newest).")
@click.option("--method", default="best", show_default=True, type=click.Choice(["best", "ltqc", "gllp", "rt", "lt"]),
              help="best: every method the source allows, the largest secure key, the winner shown per block.")
@click.option("--block", "block_size", default=1e9, show_default=True, type=POSITIVE, help="Pulses per block (--sim).")
@click.option("--blocks", "block_count", type=click.IntRange(min=1), help="Stop after this many blocks (--sim; default: until Ctrl-C).")
@click.option("--interval", default=0.5, show_default=True, type=NON_NEGATIVE, help="Seconds between simulated blocks.")
@click.option("--distance", default=10.0, show_default=True, type=NON_NEGATIVE, help="Fiber length of the simulated link (km).")
@click.option("--drift-im", default=0.0, show_default=True, type=FINITE, help="Simulated IM bias drift (V per block).")
@click.option("--drift-pm", default=0.0, show_default=True, type=FINITE, help="Simulated PM Vπ drift (fraction per block).")
@click.option("--record", "record_path", type=click.Path(dir_okay=False),
              help="Also write the simulated blocks as a qkd-link run into this HDF5 file.")
@click.option("--numerical", is_flag=True,
              help="Also the mismatch-aware decoy key rate of each block (numerical engine, the model's detector "
                   "table), in a worker process; shown with the block it belongs to.")
@click.option("--seed", default=0, show_default=True, help="Seed of the simulated link.")
@click.option("--qber-alarm", default=0.05, show_default=True, type=PROBABILITY, help="QBER above which an alarm is raised.")
@click.option("--stale-after", default=5.0, show_default=True, type=POSITIVE, help="Seconds without a block before STALE.")
@click.option("--eps-sec", default=1e-10, show_default=True, type=CONFIDENCE, help="Secrecy parameter ε_sec.")
@click.option("--eps-cor", default=1e-10, show_default=True, type=CONFIDENCE, help="Correctness parameter ε_cor.")
@click.option("--log", "log_path", default="live-log.csv", show_default=True, type=click.Path(dir_okay=False),
              help="CSV log of every estimate.")
@click.option("--png", "png_path", default="live-history.png", show_default=True, type=click.Path(dir_okay=False),
              help="History figure written at the end.")
@click.option("--serve", is_flag=True, help="Also serve the live dashboard in the browser (--host, --port).")
@serve_options
def live_command(model_path: str, sim: bool, follow_path: str | None, run_name: str | None, method: str,
                 block_size: float, block_count: int | None, interval: float, distance: float, drift_im: float,
                 drift_pm: float, record_path: str | None, numerical: bool, seed: int, qber_alarm: float,
                 stale_after: float, eps_sec: float, eps_cor: float, log_path: str, png_path: str, serve: bool,
                 host: str, port: int) -> None:
    """Rolling finite-key estimates while the link runs: per block and for all data so far.

    Shows the current rate, QBER, phase-error bound, the key so far and a sparkline, raises alarms
    when the data leave the calibrated envelope, and logs every estimate. Ctrl-C ends cleanly.
    With --serve the same run is shown on a web page (``qkdlab.dashboard``), which stays up after
    the producer ends until Ctrl-C.
    """
    from ..calibration import load_source_model
    from ..errors import ConfigError
    from ..live import LinkDrift, SimulatedLink, follow_link_run, paced, run_session

    if sim == (follow_path is not None):
        raise click.UsageError("give exactly one producer: --sim or --follow RUN.h5")
    model = load_source_model(model_path)
    estimator = make_estimator(model, method, eps_sec, eps_cor, qber_alarm)
    worker = _numerical_worker(model) if numerical else None
    previous = sigterm_as_interrupt()
    recording: _Recording | None = None
    result = None
    try:
        if sim:
            try:
                link = SimulatedLink(model, distance_km=distance, block_emissions=block_size, seed=seed,
                                     drift=LinkDrift(drift_im, drift_pm))
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
            blocks: Any = paced(link, block_count, interval)
            if record_path:
                recording = _Recording(record_path)
                blocks = recording.blocks(blocks)
            title = f"simulated link, {distance:g} km"
        else:
            blocks = follow_link_run(follow_path, run_name, poll_s=0.2)  # type: ignore[arg-type]
            title = f"following {follow_path}"
        with contextlib.ExitStack() as stack:
            observers = ()
            if serve:
                from ..dashboard import Feed, RunInfo

                feed = Feed(RunInfo.from_estimator(estimator, title, model))
                stack.enter_context(serving(feed, host, port, stale_after))
                observers = (feed.publish,)
            try:
                result = run_session(estimator, blocks, title=title, log_path=log_path, png_path=png_path,
                                     console=console, stale_after_s=stale_after, observers=observers,
                                     numerical=worker)
            finally:
                if worker is not None:
                    worker.close()
                if recording is not None:  # the record says how the session ended (a crash: failed)
                    recording.finish(result.stop_reason if result is not None else "the session failed")
            if serve and not result.interrupted:
                feed.finish(result.state.finished)
                wait_for_ctrl_c("the producer has ended; the dashboard stays up until Ctrl-C.")
    finally:
        signal.signal(signal.SIGTERM, previous)
    accepted = sum(u.accepted for u in result.updates)
    console.print(f"{accepted} blocks estimated, {len(result.updates) - accepted} rejected; log: {log_path}"
                  + (f"; history: {png_path}" if accepted else ""), highlight=False)
    if result.interrupted:
        sys.exit(130)


def _numerical_worker(model):
    """The live numerical estimator on the worst case of the model's detector table over its
    confidence box (the doubled emulation hull, docs/mismatch-calibrated.md; active, coarse)."""
    from ..analysis.mismatch import MismatchInputError, Receiver
    from ..analysis.mismatch.hull import calibrated_hull
    from ..errors import ConfigError
    from ..live.numerical import NumericalWorker

    if model.detectors is None:
        raise ConfigError("--numerical needs the model's detector table: run the detector-efficiency scan and "
                          "calibrate it")
    try:
        hull = calibrated_hull(model.detectors)
    except MismatchInputError as exc:
        raise ConfigError(f"--numerical: {exc}") from None
    return NumericalWorker(Receiver("active", hull.analysis_table, "coarse"), minima=hull.minima, sectors=True)


class _Recording:
    """Writes the simulated blocks into a qkd-link run as they pass; closed with how the session ended."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.recorder: Any = None

    def blocks(self, blocks: Any) -> Any:
        from ..live import LinkRecorder

        for block in blocks:
            if self.recorder is None:
                self.recorder = LinkRecorder(self.path, block)
            else:
                self.recorder.append(block)
            yield block

    def finish(self, stop_reason: str) -> None:
        """``completed`` when the producer ran out; ``aborted`` with the signal's name when stopped."""
        if self.recorder is not None:
            if stop_reason == "the session failed":
                self.recorder.writer.finish("failed", stop_reason)
            elif stop_reason:
                self.recorder.writer.finish("aborted", stop_reason)
            else:
                self.recorder.writer.finish("completed")


__all__ = ["live_command"]
