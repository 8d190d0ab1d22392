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
