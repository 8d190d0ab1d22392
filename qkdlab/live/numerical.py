"""The optional live numerical estimator: the mismatch-aware decoy key rate of each block
(:func:`qkdlab.analysis.mismatch.decoy_mismatch_key_rate`), computed in a worker process so the
per-block loop never waits for it.

The loop calls :meth:`NumericalWorker.submit` with each accepted block and :meth:`poll` to
collect what has finished. At most one block is being solved; while it runs, newer blocks replace
one another as "pending" (only the newest is solved next), so the worker never falls behind by
more than one solve. Each solve is warm-started from the previous block's result (its multipliers
are tried as a certificate). Every result names the block it belongs to and the wall time at which
it was certified; the view shows it with that block number, so a number is never presented as the
current block's. A solver failure, bad data or a dead worker gives the block's conservative
answer: 0 bit/s with the reason.

Asymptotic per block: the counts' sampling enters the decoy LPs as Chernoff intervals (failure
1e-10 in all), but privacy amplification is asymptotic; docs/decoy-mismatch.md §5 says what a
finite-key version would take.
"""

from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np

from ..analysis.mismatch import DecoyMismatchKeyRate, Receiver
from ..model import Observations

__all__ = ["NumericalEstimate", "NumericalWorker"]

#: A block's counts are samples: its frequencies enter the decoy LPs as Chernoff intervals that all
#: hold with probability ≥ 1 − this (point frequencies would make the LPs infeasible by chance).
_FAILURE = 1e-10


@dataclass(frozen=True)
class NumericalEstimate:
    """The mismatch-aware decoy rate of one block (0 with ``reason`` when it could not be certified)."""

    block_index: int
    certified_at: float
    key_rate_bps: float
    key_rate_per_pulse: float
    status: str
    reason: str
    seconds: float


def _solve(receiver: Receiver, block: Observations, f_ec: float, warm: DecoyMismatchKeyRate | None,
           options: dict) -> tuple[DecoyMismatchKeyRate | None, str, float]:
    """Runs in the worker: (result, failure reason, seconds). Never raises for bad data or solvers."""
    from ..analysis.mismatch import decoy_mismatch_key_rate, decoy_statistics_from_observations
    from ..errors import QkdlabError

    start = time.perf_counter()
    try:
        stats = decoy_statistics_from_observations(block, failure=_FAILURE)
        res = decoy_mismatch_key_rate(receiver, stats, f_ec=f_ec, warm_start=warm, **options)
    except (QkdlabError, ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:
        return None, f"{type(exc).__name__}: {exc}", time.perf_counter() - start
    return res, "", time.perf_counter() - start


class NumericalWorker:
    """One worker process solving the newest accepted block (module docstring).

    ``minima``/``sectors``: for the doubled emulation hull of a calibrated detector table
    (:func:`qkdlab.analysis.mismatch.hull.calibrated_hull`), so that each block's rate is a worst case
    over the calibration's confidence box; passed to the decoy analysis."""

    def __init__(self, receiver: Receiver, *, f_ec: float = 1.16, minima: dict[str, np.ndarray] | None = None,
                 sectors: bool = False) -> None:
        self.receiver, self.f_ec = receiver, f_ec
        self.options = {"minima": minima, "sectors": sectors}
        # spawn, not fork: the session has threads (the view's refresh) that fork would copy mid-state
        self._pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        self._running: tuple[int, Future] | None = None
        self._pending: tuple[int, Observations] | None = None
        self._warm: DecoyMismatchKeyRate | None = None
        self.latest: NumericalEstimate | None = None

    def submit(self, index: int, groups: tuple[Observations, ...]) -> None:
        """Queue block ``index`` (its post-processing groups are merged); returns at once."""
        block = groups[0]
        for g in groups[1:]:
            block = block + g
        self._pending = (index, block)
        self.poll()

    def poll(self) -> NumericalEstimate | None:
        """Collect a finished solve (if any), start the pending one; the newest estimate."""
        if self._running is not None and self._running[1].done():
            index, future = self._running
            self._running = None
            try:
                res, reason, seconds = future.result()
            except Exception as exc:  # the worker process died: a conservative zero, never a crash
                res, reason, seconds = None, f"worker failed: {type(exc).__name__}: {exc}", 0.0
                self._pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
            self.latest = self._estimate(index, res, reason, seconds)
            if res is not None and res.certified:
                self._warm = res
        if self._running is None and self._pending is not None:
            index, block = self._pending
            self._pending = None
            self._running = (index, self._pool.submit(_solve, self.receiver, block, self.f_ec, self._warm,
                                                                self.options))
        return self.latest

    def wait(self, timeout_s: float) -> NumericalEstimate | None:
        """Poll until nothing is running or pending, or ``timeout_s`` passed (for the end of a run)."""
        end = time.monotonic() + timeout_s
        while (self._running is not None or self._pending is not None) and time.monotonic() < end:
            time.sleep(0.05)
            self.poll()
        return self.latest

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    @staticmethod
    def _estimate(index: int, res: DecoyMismatchKeyRate | None, reason: str, seconds: float) -> NumericalEstimate:
        now = time.time()
        if res is None:
            return NumericalEstimate(index, now, 0.0, 0.0, "failed", reason + "; key rate 0 for this block", seconds)
        if not res.certified:
            return NumericalEstimate(index, now, 0.0, 0.0, res.status, res.reason or "not certified", seconds)
        return NumericalEstimate(index, now, res.key_rate_bps or 0.0, res.key_rate_per_pulse or 0.0, res.status,
                                 res.reason, seconds)
