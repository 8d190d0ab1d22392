"""Feeding the dashboard from a recorded or followed qkd-link run (``qkdlab dashboard FILE``)."""

from __future__ import annotations

from collections.abc import Iterable

from ..live.estimator import LiveEstimator
from ..live.link import Block
from .feed import Feed

__all__ = ["estimate_into"]


def estimate_into(feed: Feed, estimator: LiveEstimator, blocks: Iterable[Block]) -> int:
    """Estimate every block (as the live loop does) and publish it; returns the blocks seen.

    With :func:`qkdlab.live.follow_link_run` as ``blocks`` this replays a finished run at once
    and follows one still being written until its writer ends it.
    """
    seen = 0
    try:
        for block in blocks:
            feed.publish(estimator.push(block), block)
            seen += 1
    except KeyboardInterrupt:
        feed.finish("interrupted (Ctrl-C)")
        raise
    feed.finish(f"run ended: {seen} blocks")
    return seen
