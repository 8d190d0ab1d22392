"""Adaptive chunking: every point exactly once, about TARGET_CHUNK_S of work per chunk, a balanced tail."""

from __future__ import annotations

import numpy as np

from qkdlab.sweep.run import MAX_CHUNK, TARGET_CHUNK_S, Chunker


def _drain(chunker: Chunker, seconds_per_point: float) -> list[list[int]]:
    chunks = []
    while chunk := chunker.take():
        chunks.append(chunk)
        chunker.record(len(chunk), seconds_per_point * len(chunk))
    return chunks


def test_every_point_once_in_order_with_chunks_of_about_the_target_work():
    points = np.arange(5000)[::3]
    chunks = _drain(Chunker(points, workers=2), seconds_per_point=0.01)
    assert [i for c in chunks for i in c] == points.tolist()
    assert len(chunks[0]) == 1                                   # nothing measured yet
    sizes = [len(c) for c in chunks]
    assert max(sizes) == int(TARGET_CHUNK_S / 0.01)              # 1 s of 10 ms points
    assert sizes[-1] <= 2 and sizes[-5:] == sorted(sizes[-5:], reverse=True)   # the tail shrinks


def test_cheap_points_are_capped_and_a_fixed_size_is_kept():
    assert max(len(c) for c in _drain(Chunker(np.arange(100_000), workers=4), 1e-5)) == MAX_CHUNK
    assert {len(c) for c in _drain(Chunker(np.arange(20), workers=2, fixed_size=6), 1.0)} == {6, 2}


def _owners(chunks: list[list[int]], group_of) -> dict[int, set[int]]:
    owners: dict[int, set[int]] = {}
    for k, chunk in enumerate(chunks):
        for i in chunk:
            owners.setdefault(group_of(i), set()).add(k)
    return owners


def test_points_go_out_source_by_source_and_only_the_first_and_last_sources_are_split():
    # 40 sources on the *inner* axis (as in axes {distance: ..., epsilon: ...}): flat order interleaves them
    points = np.arange(4000)
    groups = points % 40
    chunks = _drain(Chunker(points, workers=2, groups=groups), seconds_per_point=0.004)
    assert sorted(i for c in chunks for i in c) == points.tolist()
    assert [int(groups[i]) for c in chunks for i in c] == sorted(groups.tolist())   # handed out by source
    split = [g for g, ks in _owners(chunks, lambda i: int(groups[i])).items() if len(ks) > 1]
    # the first source feeds the one-point probes; the last ones (at most one per worker) are shared out
    assert set(split) <= {0, 38, 39}
    assert max(len(c) for c in chunks) <= int(TARGET_CHUNK_S / 0.004)


def test_source_groups_number_the_sources_of_a_grid():
    from qkdlab.sweep.spec import parse_spec

    spec = parse_spec({"fixed": {"delta": 0.063}, "axes": {"distance": [0.0, 10.0, 20.0],
                                                           "epsilon": [0.0, 1e-7], "method": ["ltqc", "rt"]}})
    flat = np.arange(spec.size)
    groups = spec.source_groups(flat)
    for i, g in zip(flat, groups):   # same group ⇔ same ε (the only swept source parameter)
        assert spec.flat_point(int(i))["epsilon"] == [0.0, 1e-7][g]
    assert not parse_spec({"axes": {"distance": [0.0, 10.0]}}).source_groups(np.arange(2)).any()
