"""Running a sweep: the missing points of a study, in chunks, on a ``dask.distributed`` cluster.

There is one execution path. Without a scheduler address a ``LocalCluster`` of worker
processes (one thread each: the solvers hold the GIL) is started for the run and closed after
it; with ``scheduler="tcp://host:8786"`` the same tasks go to an existing cluster (``dask
scheduler`` + ``dask worker``, or dask-jobqueue on SLURM), whose workers need qkdlab installed.

Chunks: a task evaluates a list of points, so the scheduler's fixed cost per task (a few ms) is
spread over many points; :class:`Chunker` sizes them from the measured time per point. The chunk
size does not change any number (each point is evaluated on its own, with the same seed), only
how much work is lost when a process dies and how evenly the workers finish. Results are written by this process alone, as each chunk completes
(``as_completed``), in flushed batches (see :mod:`qkdlab.sweep.study`).

Lost workers: dask reruns the tasks of a worker that died on another one; a chunk that kills
``distributed.scheduler.allowed-failures`` workers in a row is left missing and reported, so the
next run retries it.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..interrupts import delayed_keyboard_interrupt
from .evaluate import PointResult, evaluate_chunk
from .spec import SweepSpec
from .study import DONE, FAILED, StudyFile

__all__ = ["SweepSummary", "Chunker", "run_sweep", "timed_chunk", "local_cluster", "QUIET_CLUSTER", "TARGET_CHUNK_S",
           "MAX_CHUNK"]

#: Adaptive chunking: seconds of work per task, and the most points in one task.
TARGET_CHUNK_S = 1.0
MAX_CHUNK = 256

Progress = Callable[[int, int, int], None]


@dataclass(frozen=True)
class SweepSummary:
    """What a run did: points in the grid, done / failed in the file, computed now, still missing."""

    path: Path
    total: int
    done: int
    failed: int
    computed: int
    missing: int
    seconds: float
    workers: int
    lost_chunks: tuple[str, ...] = ()
    interrupted: bool = False


class Chunker:
    """Hands out chunks of the points to compute, sized from the measured time per point.

    Why adaptive: the cost of a point ranges from a millisecond (closed forms) to seconds
    (optimisation, numerical engines) and is not known before the sweep. The first chunks hold
    one point each; after that a chunk holds about ``TARGET_CHUNK_S`` of work (the scheduler's few
    ms per task are then under 1 %), at most ``MAX_CHUNK`` points, and never more than an equal
    share of what is left among twice the workers, so the last chunks finish together.

    Why grouped: ``groups`` numbers the source of each point (:meth:`SweepSpec.source_groups`).
    A source's overlap SDPs cost about as much as a hundred of its points and are cached in the
    worker that solved them, so the points are handed out source by source, and an adaptive chunk
    that would end inside a source ends at the last source boundary it contains instead. A source
    is then solved by one worker, not by every worker that got a piece of it (on a 10^4-point LTQC
    grid that duplication cost 2 workers a fifth of their time). Near the end, where the balanced
    share is smaller than a source, a chunk finishes the source it is in if that is no more than
    a full-size chunk, rather than split it; only the last sources (no more than the workers) are
    shared out in pieces, so that the workers still finish together. Sizes and order change nothing
    but the timing: every point is evaluated on its own, with the same seed.
    """

    def __init__(self, points: np.ndarray, workers: int, fixed_size: int | None = None,
                 groups: np.ndarray | None = None) -> None:
        points = np.asarray(points, dtype=np.intp)
        groups = np.zeros(points.shape, np.intp) if groups is None else np.asarray(groups)
        order = np.argsort(groups, kind="stable")
        self.points = points[order].tolist()
        #: positions in ``self.points`` where a new group starts
        self.boundaries = np.flatnonzero(np.diff(groups[order])) + 1
        self.next = 0
        self.workers = max(workers, 1)
        self.fixed_size = fixed_size
        self.seconds_per_point: float | None = None

    def record(self, points: int, seconds: float) -> None:
        """A chunk's compute time as the worker measured it (smoothed: the first chunks include warm-up)."""
        if points:
            latest = seconds / points
            previous = self.seconds_per_point
            self.seconds_per_point = latest if previous is None else 0.5 * (previous + latest)

    def take(self) -> list[int]:
        left = len(self.points) - self.next
        if self.fixed_size is not None:
            size = self.fixed_size
        elif self.seconds_per_point is None:
            size = 1
        else:
            full = max(1, min(int(TARGET_CHUNK_S / max(self.seconds_per_point, 1e-6)), MAX_CHUNK))
            size = min(full, math.ceil(left / (2 * self.workers)))
        end = self.next + size
        if self.fixed_size is None and self.seconds_per_point is not None and end < len(self.points):
            last = int(np.searchsorted(self.boundaries, end, side="right"))   # boundaries ≤ end
            if last > 0 and self.boundaries[last - 1] > self.next:
                end = int(self.boundaries[last - 1])      # end at the last source boundary inside
            elif len(self.boundaries) - last + 1 > self.workers:   # inside one of many sources left:
                group_end = self.boundaries[last] if last < len(self.boundaries) else len(self.points)
                if group_end - self.next <= full:          # finish it if that is no more than a full chunk
                    end = int(group_end)
        chunk = self.points[self.next:end]
        self.next += len(chunk)
        return chunk


def timed_chunk(spec_json: str, indices: list[int]) -> tuple[list[PointResult], float]:
    """The task: a chunk's results and the seconds the worker spent computing them."""
    start = time.perf_counter()
    results = evaluate_chunk(spec_json, indices)
    return results, time.perf_counter() - start


@contextmanager
def _client(scheduler: str | None, workers: int | None) -> Iterator[Any]:
    """A client of the cluster at ``scheduler``, or of a local cluster made (and closed) for the run."""
    if scheduler is None:
        with local_cluster(workers or os.cpu_count() or 1) as client:
            yield client
        return
    from dask.distributed import Client

    try:
        client = Client(scheduler, timeout="20s")
    except (OSError, TimeoutError) as exc:
        from ..errors import ConfigError

        raise ConfigError(f"--scheduler {scheduler}: cannot reach the dask scheduler ({exc}); start one with "
                          "'dask scheduler' and workers with 'dask worker ADDRESS'") from None
    with client:
        yield client


#: dask settings of the local cluster. Why: its housekeeping runs on the cores the solvers need.
#: With the defaults, an idle 2-worker cluster took 8.6 % of a core (nanny memory checks every
#: 100 ms, event-loop ticks every 20 ms, the system monitor, the GIL monitor) and each busy worker
#: spent about 6 % of its CPU beside its task, mostly on dask's statistical profiler sampling the
#: task's stack every 10 ms. Nothing here changes a result: the profiler only feeds the dashboard
#: (which a sweep does not start), and the monitors only need to notice a runaway worker within a
#: second or two. With these: 1.7 % of a core idle. An existing cluster (``--scheduler``) keeps its
#: own configuration; the same keys in its ``distributed.yaml`` give it the same gain.
QUIET_CLUSTER = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.system-monitor.gil.enabled": False,
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.admin.tick.interval": "500ms",
    "distributed.worker.memory.monitor-interval": "1s",
}


@contextmanager
def local_cluster(workers: int) -> Iterator[Any]:
    """A client of a new ``LocalCluster``: ``workers`` processes of one thread each (the solvers hold the GIL).

    The settings of :data:`QUIET_CLUSTER` hold for the cluster's whole life, not only its start:
    dask replaces a lost worker with one configured from this process's settings at that moment.
    """
    import dask
    from dask.distributed import Client, LocalCluster

    with dask.config.set(QUIET_CLUSTER), LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
            silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        yield client


def run_sweep(spec: SweepSpec, path: str | os.PathLike[str], *, scheduler: str | None = None,
              workers: int | None = None, progress: Progress | None = None, client: Any = None) -> SweepSummary:
    """Compute every missing point of ``spec`` into the study at ``path`` (created, or resumed).

    ``progress(done, failed, total)`` is called after each written batch. ``client``: an open
    ``dask.distributed.Client`` to use as is (tests, notebooks); otherwise one is made from
    ``scheduler`` / ``workers``. Ctrl-C stops after the batch being written; the file keeps every
    finished point and the next run resumes it.
    """
    start = time.perf_counter()
    computed, lost, interrupted = 0, [], False
    with StudyFile.open(path, spec) as study:
        missing = study.missing()
        total = spec.size

        def report() -> None:
            if progress is not None:
                progress(int(np.count_nonzero(study.status == DONE)), int(np.count_nonzero(study.status == FAILED)),
                         total)

        report()
        n_workers = 0
        if len(missing):
            with nullcontext(client) if client is not None else _client(scheduler, workers) as client:
                n_workers = max(1, len(client.scheduler_info(n_workers=-1)["workers"]))
                computed, lost, interrupted = _compute(client, study, spec, missing, n_workers, report)
        return SweepSummary(Path(path), total, int(np.count_nonzero(study.status == DONE)),
                            int(np.count_nonzero(study.status == FAILED)), computed, len(study.missing()),
                            time.perf_counter() - start, n_workers if len(missing) else 0, tuple(lost), interrupted)


def _compute(client: Any, study: StudyFile, spec: SweepSpec, missing: np.ndarray, workers: int,
             report: Callable[[], None]) -> tuple[int, list[str], bool]:
    """Keep two chunks per worker in flight (no worker waits for the next task); write each as it ends."""
    from dask.distributed import as_completed

    chunker = Chunker(missing, workers, spec.chunk_size, spec.source_groups(missing))
    spec_json = spec.canonical()
    running: set[Any] = set()
    queue = as_completed()

    def submit() -> None:
        while len(running) < 2 * workers:
            chunk = chunker.take()
            if not chunk:
                return
            future = client.submit(timed_chunk, spec_json, chunk, pure=False)
            running.add(future)
            queue.add(future)

    computed, lost = 0, []
    try:
        submit()
        for future in queue:
            running.discard(future)
            try:
                results, seconds = future.result()
            except Exception as exc:  # a chunk whose workers kept dying: leave it missing, say so
                lost.append(f"{type(exc).__name__}: {exc}")
                submit()
                continue
            chunker.record(len(results), seconds)
            submit()
            with delayed_keyboard_interrupt():
                study.write(results)
            future.release()
            computed += len(results)
            report()
    except KeyboardInterrupt:
        client.cancel(list(running))
        return computed, lost, True
    return computed, lost, False
