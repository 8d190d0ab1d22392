"""Adaptive chunking: every point exactly once, source by source, about TARGET_CHUNK_S of work per
chunk, a balanced tail, and no source cut where repeating its SDPs would cost more than 5 %."""

from __future__ import annotations

import numpy as np

from qkdlab.sweep.run import MAX_CHUNK, TARGET_CHUNK_S, Chunker


def _drain(chunker: Chunker, per_point: float, shared: float = 0.0, groups=None) -> list[list[int]]:
    """Hand out every chunk; each costs ``shared`` for the first point of every source in it."""
    chunks = []
    while chunk := chunker.take():
        chunks.append(chunk)
        seen: set[int] = set()
        seconds = []
        for i in chunk:
            g = None if groups is None else int(groups[i])
            seconds.append(per_point + (shared if g is not None and g not in seen else 0.0))
            seen.add(g)
        chunker.record(chunk, seconds)
    return chunks


def _owners(chunks: list[list[int]], groups) -> dict[int, set[int]]:
    owners: dict[int, set[int]] = {}
    for k, chunk in enumerate(chunks):
        for i in chunk:
            owners.setdefault(int(groups[i]), set()).add(k)
    return owners


def test_every_point_once_in_order_with_chunks_of_about_the_target_work():
    points = np.arange(5000)[::3]
    chunks = _drain(Chunker(points, workers=2), per_point=0.01)
    assert [i for c in chunks for i in c] == points.tolist()
    assert len(chunks[0]) == 2                                   # the probe: nothing measured yet
    sizes = [len(c) for c in chunks]
    assert max(sizes) == int(TARGET_CHUNK_S / 0.01)              # 1 s of 10 ms points
    assert sizes[-1] <= 2 and sizes[-5:] == sorted(sizes[-5:], reverse=True)   # the tail shrinks


def test_cheap_points_are_capped_and_a_fixed_size_is_kept():
    assert max(len(c) for c in _drain(Chunker(np.arange(100_000), workers=4), 1e-5)) == MAX_CHUNK
    assert {len(c) for c in _drain(Chunker(np.arange(20), workers=2, fixed_size=6), 1.0)} == {6, 2}


def test_points_go_out_source_by_source_and_a_source_is_split_only_at_the_very_end():
    # 100 sources on the *inner* axis (as in axes {distance: ..., epsilon: ...}): flat order interleaves them
    points = np.arange(10_000)
    groups = points % 100
    chunks = _drain(Chunker(points, workers=2, groups=groups), per_point=0.001, shared=0.13, groups=groups)
    assert sorted(i for c in chunks for i in c) == points.tolist()
    assert [int(groups[i]) for c in chunks for i in c] == sorted(groups.tolist())   # handed out by source
    split = [g for g, ks in _owners(chunks, groups).items() if len(ks) > 1]
    assert set(split) <= {0, 99}          # the probe's source, and the last one shared out in the tail
    assert max(len(c) for c in chunks) <= MAX_CHUNK


def test_slow_shared_work_does_not_shrink_chunks_below_a_source():
    """A loaded machine: the SDPs of a source take 6 s, its 10 points 5 ms each. Chunks must not
    shrink below a source (each piece would solve the SDPs again)."""
    points = np.arange(1000)
    groups = points // 10
    chunks = _drain(Chunker(points, workers=2, groups=groups), per_point=0.005, shared=6.0, groups=groups)
    split = [g for g, ks in _owners(chunks, groups).items() if len(ks) > 1]
    assert set(split) <= {0}


def test_a_costly_source_is_cut_into_pieces_of_about_the_target():
    """3 sources of 1000 points: 0.1 s of SDPs, then 10 ms a point. A worker solves a source once,
    so cutting one costs at most 0.1 s per extra worker against its 10 s of points: cut it."""
    points = np.arange(3000)
    groups = points // 1000
    chunks = _drain(Chunker(points, workers=2, groups=groups), per_point=0.01, shared=0.1, groups=groups)
    assert sorted(i for c in chunks for i in c) == points.tolist()
    assert all(len({int(groups[i]) for i in c}) == 1 for c in chunks)          # pieces of one source each
    sizes = [len(c) for c in chunks]
    target = int(TARGET_CHUNK_S / 0.01)
    assert max(sizes) <= 2 * target and sum(n <= target for n in sizes) >= 0.8 * len(sizes)   # a remnant may be whole


def test_source_groups_number_the_sources_of_a_grid():
    from qkdlab.sweep.spec import parse_spec

    spec = parse_spec({"fixed": {"delta": 0.063}, "axes": {"distance": [0.0, 10.0, 20.0],
                                                           "epsilon": [0.0, 1e-7], "method": ["ltqc", "rt"]}})
    flat = np.arange(spec.size)
    groups = spec.source_groups(flat)
    for i, g in zip(flat, groups):   # same group ⇔ same ε (the only swept source parameter)
        assert spec.flat_point(int(i))["epsilon"] == [0.0, 1e-7][g]
    assert not parse_spec({"axes": {"distance": [0.0, 10.0]}}).source_groups(np.arange(2)).any()
