"""Running a sweep: the missing points of a study, in chunks, on a ``dask.distributed`` cluster.

There is one execution path. Without a scheduler address a ``LocalCluster`` of worker
processes (one thread each: the solvers hold the GIL) is started for the run and closed after
it; with ``scheduler="tcp://host:8786"`` the same tasks go to an existing cluster (``dask
scheduler`` + ``dask worker``, or dask-jobqueue on SLURM), whose workers need qkdlab installed.

Chunks: a task evaluates a list of points, so the scheduler's fixed cost per task (a few ms) is
spread over many points; :class:`Chunker` hands them out source by source and sizes them from
the measured cost of a source's shared solves and of each point. Chunk size and order do not
change any number (each point is evaluated on its own, with the same seed), only how much work
is lost when a process dies, how often a source is solved, and how evenly the workers finish.
Results are written by this process alone, as each chunk completes (``as_completed``), in
flushed batches (see :mod:`qkdlab.sweep.study`).

Lost workers: dask reruns the tasks of a worker that died on another one; a chunk that kills
``distributed.scheduler.allowed-failures`` workers in a row is left missing and reported, so the
next run retries it.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..interrupts import delayed_keyboard_interrupt
from .evaluate import PointResult, evaluate_timed
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
    """Hands out chunks of the points to compute, sized from measured costs, source by source.

    Why a cost model with two parts: a point of a flawed source costs about a millisecond once its
    source's overlap SDPs are solved, and those SDPs (70–180 ms for LTQC) are solved once per
    source and worker process, then cached. So a chunk costs ``shared`` per source it starts plus
    ``per_point`` per point. Both are measured: a task returns the time of each of its points,
    and the first point of each source in a chunk carries the shared part. (Measuring only time
    per point made chunks smaller than a source when the SDPs were slow, e.g. on a loaded
    machine; each piece then paid the SDPs again on its worker, which raised the measured time
    per point and shrank the chunks further.)

    How chunks are cut: ``groups`` numbers the source of each point
    (:meth:`SweepSpec.source_groups`), and points go out source by source. A chunk takes whole
    sources while their estimated cost fits ``TARGET_CHUNK_S`` of work (the scheduler's few ms
    per task are then under 1 %), at least one source, at most ``MAX_CHUNK`` points. A source too
    costly for one chunk is cut into pieces of about the target only if that is cheap: a worker
    solves a source's SDPs once, so cutting costs at most (workers − 1) × shared, and a source is
    cut when that is under 5 % of its points' work (many points, or optimised points of seconds
    each), or when it has more than ``MAX_CHUNK`` points. Near the end the budget is an equal share
    of the estimated work left among twice the workers, so the workers finish together. The first
    chunks, before anything is measured, hold two points of a source: the first shows the shared
    cost, the second a point's own. A ``fixed_size`` (the spec's ``chunk_size``) overrides all of
    this. Sizes and order change nothing but the timing: every point is evaluated on its own,
    with the same seed.
    """

    def __init__(self, points: np.ndarray, workers: int, fixed_size: int | None = None,
                 groups: np.ndarray | None = None) -> None:
        points = np.asarray(points, dtype=np.intp)
        groups = np.zeros(points.shape, np.intp) if groups is None else np.asarray(groups)
        order = np.argsort(groups, kind="stable")
        self.points = points[order].tolist()
        #: where each source starts and ends in ``self.points``
        self.starts = np.flatnonzero(np.r_[True, np.diff(groups[order]) != 0]) if len(points) else np.zeros(0, int)
        self.ends = np.r_[self.starts[1:], len(points)].astype(int)
        self.next = 0
        self.workers = max(workers, 1)
        self.fixed_size = fixed_size
        self.shared: float | None = None       # seconds per source started in a chunk (its SDPs)
        self.per_point: float | None = None    # seconds per point once its source is solved
        self._taken: dict[int, int] = {}       # first index of a chunk -> its start in self.points

    def _group(self, position: int) -> int:
        return int(np.searchsorted(self.starts, position, side="right")) - 1

    def record(self, chunk: list[int], seconds: list[float]) -> None:
        """The time of each point of a chunk, as the worker measured it (smoothed over chunks)."""
        start = self._taken.pop(chunk[0], None) if chunk else None
        if start is None:
            return
        groups = range(self._group(start), self._group(start + len(chunk) - 1) + 1)
        first = {max(start, int(self.starts[g])) for g in groups}
        firsts = [t for k, t in enumerate(seconds) if start + k in first]
        rest = [t for k, t in enumerate(seconds) if start + k not in first]
        if rest:
            self.per_point = self._smooth(self.per_point, float(np.mean(rest)))
        elif self.per_point is None:   # sources of one point each: no need (and no way) to split the cost
            self.per_point = float(np.mean(firsts))
        if self.per_point is not None:
            self.shared = self._smooth(self.shared, max(float(np.mean(firsts)) - self.per_point, 0.0))

    @staticmethod
    def _smooth(previous: float | None, latest: float) -> float:
        return latest if previous is None else 0.5 * (previous + latest)

    def take(self) -> list[int]:
        if self.next >= len(self.points):
            return []
        if self.fixed_size is not None:
            end = self.next + self.fixed_size
        elif self.per_point is None or self.shared is None:
            end = min(self.next + 2, int(self.ends[self._group(self.next)]))   # a probe: see the docstring
        else:
            end = self._cut()
        chunk = self.points[self.next:end]
        self._taken[chunk[0]] = self.next
        self.next += len(chunk)
        return chunk

    def _cut(self) -> int:
        """The end of the next chunk: whole sources within the budget, or a piece of a costly one."""
        shared, per_point = self.shared or 0.0, max(self.per_point or 0.0, 1e-7)
        g = self._group(self.next)
        left = shared * (len(self.starts) - g) + per_point * (len(self.points) - self.next)
        budget = min(TARGET_CHUNK_S, left / (2 * self.workers))
        end, spent = self.next, 0.0
        while g < len(self.starts):
            rest = int(self.ends[g]) - end
            cost = shared + per_point * rest
            if spent + cost <= budget and end + rest - self.next <= MAX_CHUNK:
                end, spent, g = end + rest, spent + cost, g + 1
            elif end == self.next:    # the first source does not fit: whole, or cut into pieces
                if rest <= MAX_CHUNK and per_point * rest < 20 * (self.workers - 1) * shared:
                    end += rest       # cutting would cost more than 5 % of its work in repeated SDPs
                else:
                    end += min(rest, max(1, int(budget / per_point)))
                break
            else:
                break
        return min(end, self.next + MAX_CHUNK)


def timed_chunk(spec_json: str, indices: list[int]) -> tuple[list[PointResult], list[float]]:
    """The task: a chunk's results and the seconds the worker spent on each point."""
    return evaluate_timed(spec_json, indices)


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
            chunker.record([r.index for r in results], seconds)
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
