"""Time-tag streams → counts: what the counting electronics of a link does, vectorised.

Alice's choices per pulse slot (setting, intensity) and Bob's basis per slot are known arrays;
Bob's detections arrive as time tags per detector. A tag belongs to the slot
round((t − offset)/period); a slot with clicks on both detectors of the basis is a double click,
assigned to a random outcome (as the security analysis assumes). Counting is one ``np.bincount``
over a combined index, so it runs at memory speed (``benchmarks/bench_live.py``).
"""

from __future__ import annotations

import numpy as np

from ..model import Observations, nested_tuples
from .link import Block

__all__ = ["slots_from_tags", "count_emissions", "count_detections", "block_from_events"]


def slots_from_tags(tags_ps: np.ndarray, period_ps: float, offset_ps: float = 0.0) -> np.ndarray:
    """Pulse slot of each time tag (nearest slot centre)."""
    return np.rint((np.asarray(tags_ps, dtype=np.float64) - offset_ps) / period_ps).astype(np.int64)


def count_emissions(slot_setting: np.ndarray, slot_intensity: np.ndarray, n_set: int, n_int: int,
                    groups: int = 1) -> np.ndarray:
    """Pulses per (group, setting, intensity); slot k belongs to group k mod ``groups``."""
    cell = np.asarray(slot_setting, dtype=np.int64) * n_int + slot_intensity
    return np.stack([np.bincount(cell[g::groups], minlength=n_set * n_int) for g in range(groups)]).reshape(
        groups, n_set, n_int)


def count_detections(slot_setting: np.ndarray, slot_intensity: np.ndarray, slot_basis: np.ndarray,
                     event_slot: np.ndarray, event_outcome: np.ndarray, n_set: int, n_int: int, n_bases: int,
                     groups: int = 1, rng: np.random.Generator | None = None) -> np.ndarray:
    """Detections per (group, setting, intensity, basis, outcome); double clicks get a random outcome."""
    rng = rng or np.random.default_rng()
    event_slot = np.asarray(event_slot, dtype=np.int64)
    event_outcome = np.asarray(event_outcome, dtype=np.int64)
    n_slots = len(slot_setting)
    if event_slot.size and (event_slot.min() < 0 or event_slot.max() >= n_slots):
        raise ValueError(f"detection events refer to slots outside the block (0..{n_slots - 1})")
    if event_slot.size > 1 and np.any(event_slot[1:] < event_slot[:-1]):     # time tags normally come sorted
        order = np.argsort(event_slot, kind="stable")
        event_slot, event_outcome = event_slot[order], event_outcome[order]
    new_slot = np.empty(event_slot.size, dtype=bool)
    if event_slot.size:
        new_slot[0] = True
        np.not_equal(event_slot[1:], event_slot[:-1], out=new_slot[1:])
    first = np.flatnonzero(new_slot)
    slots = event_slot[first]
    outcome = event_outcome[first]
    multiplicity = np.diff(np.append(first, event_slot.size))
    double = multiplicity > 1
    if np.any(double):
        mixed = np.add.reduceat(event_outcome, first)[double] % multiplicity[double] != 0
        where = np.flatnonzero(double)[mixed]
        outcome[where] = rng.integers(0, 2, size=where.size)
    index = ((((slots % groups) * n_set + np.asarray(slot_setting)[slots]) * n_int + np.asarray(slot_intensity)[slots])
             * n_bases + np.asarray(slot_basis)[slots]) * 2 + outcome
    return np.bincount(index, minlength=groups * n_set * n_int * n_bases * 2).reshape(groups, n_set, n_int, n_bases, 2)


def block_from_events(template: Observations, slot_setting: np.ndarray, slot_intensity: np.ndarray,
                      slot_basis: np.ndarray, event_slot: np.ndarray, event_outcome: np.ndarray, *,
                      groups: int = 1, rng: np.random.Generator | None = None) -> Block:
    """One block: per-slot choices and per-event (slot, outcome) → one Observations per group.

    ``template`` supplies protocol, settings, intensities, bases and probabilities; slot k goes
    to post-processing group k mod ``groups``. Events outside the block's slots are an error.
    """
    n_set, n_int, n_bases = len(template.settings), len(template.intensities), len(template.bob_bases)
    emissions = count_emissions(slot_setting, slot_intensity, n_set, n_int, groups)
    counts = count_detections(slot_setting, slot_intensity, slot_basis, event_slot, event_outcome, n_set, n_int,
                              n_bases, groups, rng)
    return tuple(template.model_copy(update={"emissions": nested_tuples(e.astype(float)),
                                             "counts": nested_tuples(c.astype(float)), "expected": False})
                 for e, c in zip(emissions, counts))
