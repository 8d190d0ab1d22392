"""Rolling finite-key estimates from blocks of counts (the live estimator).

Each block is a tuple of :class:`~qkdlab.model.Observations`, one per post-processing group
(one group unless the source model has pulse correlations). For every accepted block the
estimator gives two finite-key estimates with the method and source model fixed at start (by
default ``best``: every method the source allows, the largest secure key, the winner named in
:attr:`Estimate.winner`; analysis/best.py):

- the block alone (N = the block's pulses);
- everything accepted so far (N = all pulses), i.e. the key the run would give if it ended now.

The overlap SDPs depend only on the source model and are solved once, at construction (the
analysis caches them), so an update costs two closed-form evaluations (milliseconds).

A block that is malformed or inconsistent with the first one (other settings, intensities,
basis probabilities, number of groups), or that the analysis cannot use, is rejected with its
reason and changes nothing: the running totals are only replaced once both estimates succeed.
"""

from __future__ import annotations

import hashlib

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import ValidationError

from ..analysis import AnalysisSource, Channel, FiniteKey, key_rate
from ..analysis.keyrate import grouped_key_rate
from ..errors import QkdlabError
from ..model import KeyRateResult, Observations, SourceModel
from .alarms import Alarm, AlarmPolicy, check_block, detection_rates, key_counts

__all__ = ["LiveEstimator", "Estimate", "Update"]


@dataclass(frozen=True)
class Estimate:
    """One finite-key estimate: of a block, or of all accepted data."""

    scope: str
    emissions: float
    key_detections: float
    qber: float
    phase_error: float
    key_length_bits: float
    key_rate_bps: float
    result: KeyRateResult
    winner: str = ""


@dataclass(frozen=True)
class Update:
    """What one pushed block did: its estimates and alarms, or why it was rejected."""

    index: int
    wall_time: float
    accepted: bool
    reason: str = ""
    block: Estimate | None = None
    accumulated: Estimate | None = None
    alarms: tuple[Alarm, ...] = ()
    latency_s: float = 0.0


class LiveEstimator:
    """Finite-key estimates per block and accumulated (module docstring)."""

    def __init__(self, source_model: SourceModel | AnalysisSource, method: str = "best", *,
                 epsilon_sec: float = 1e-10, epsilon_cor: float = 1e-10, ec_efficiency: float = 1.16,
                 alarms: AlarmPolicy = AlarmPolicy()) -> None:
        self.source = source_model if isinstance(source_model, AnalysisSource) else AnalysisSource.from_model(
            source_model)
        #: What the estimates rest on, for logs: the model's SHA-256 (of its JSON) or the inline source.
        self.source_description = (self.source.description if isinstance(source_model, AnalysisSource) else
                                   "SourceModel sha256:" + hashlib.sha256(source_model.to_json().encode()).hexdigest())
        self.method = method
        self.epsilon_sec, self.epsilon_cor = epsilon_sec, epsilon_cor
        self.ec_efficiency = ec_efficiency
        self.policy = alarms
        self.groups = self.source.correlation_length + 1
        self.total: tuple[Observations, ...] | None = None
        self.reference_rates: np.ndarray | None = None
        self.pushed = 0
        self.accepted = 0
        # Solve the state-overlap SDPs now (and check the method suits the source) — not during the run.
        key_rate(self.source, Channel(), method, distance_km=0.0)

    @property
    def assumptions(self) -> tuple[str, ...]:
        return key_rate(self.source, Channel(), self.method, distance_km=0.0).assumptions  # type: ignore[union-attr]

    def push(self, block: Observations | Sequence[Observations] | Mapping[str, Any]) -> Update:
        """Estimate one block; a bad block is rejected with its reason and leaves the totals untouched."""
        start = time.perf_counter()
        self.pushed += 1
        try:
            groups = self._validated(block)
            block_estimate = self._estimate(groups, "block")
            total = groups if self.total is None else tuple(a + b for a, b in zip(self.total, groups))
            accumulated = self._estimate(total, "accumulated")
        except (ValueError, TypeError, ValidationError, QkdlabError) as exc:
            return Update(self.pushed, time.time(), False, reason=_reason(exc),
                          latency_s=time.perf_counter() - start)
        merged = _merge(groups)
        alarms = check_block(merged, self.source.states, self.reference_rates, self.policy)
        if self.reference_rates is None:
            self.reference_rates = detection_rates(merged)[0]
        self.total = total
        self.accepted += 1
        return Update(self.pushed, time.time(), True, block=block_estimate, accumulated=accumulated,
                      alarms=tuple(alarms), latency_s=time.perf_counter() - start)

    # -- internals -----------------------------------------------------------------------------------
    def _validated(self, block: Any) -> tuple[Observations, ...]:
        if isinstance(block, Observations):
            groups: tuple[Observations, ...] = (block,)
        elif isinstance(block, Mapping):
            groups = (Observations.model_validate(block),)
        elif isinstance(block, Sequence) and not isinstance(block, (str, bytes)):
            groups = tuple(g if isinstance(g, Observations) else Observations.model_validate(g) for g in block)
        else:
            raise TypeError(f"a block is Observations (or one per post-processing group), not {type(block).__name__}")
        if len(groups) != self.groups:
            raise ValueError(f"the block has {len(groups)} post-processing group(s); the source model's pulse "
                             f"correlations (l_c = {self.groups - 1}) need {self.groups}")
        reference = self.total[0] if self.total is not None else groups[0]
        for g in groups:
            if g.expected:
                raise ValueError("the block holds expected values, not counts")
            signature = (g.protocol, g.settings, g.source, g.intensities, g.bob_bases, g.bob_basis_probabilities)
            first = (reference.protocol, reference.settings, reference.source, reference.intensities,
                     reference.bob_bases, reference.bob_basis_probabilities)
            if signature != first:
                raise ValueError(f"the block's settings/intensities/bases {signature[1:]} differ from the run's "
                                 f"{first[1:]}")
            if g.total_emissions <= 0:
                raise ValueError("the block has no emissions")
        return groups

    def _estimate(self, groups: tuple[Observations, ...], scope: str) -> Estimate:
        pulses = float(sum(g.total_emissions for g in groups))
        finite = FiniteKey(pulses, self.epsilon_sec, self.epsilon_cor)
        if self.groups == 1:
            result = key_rate(self.source, groups[0], self.method, finite, ec_efficiency=self.ec_efficiency)
        else:
            result = grouped_key_rate(self.source, groups, self.method, finite, ec_efficiency=self.ec_efficiency)
        assert isinstance(result, KeyRateResult)
        detections, errors = key_counts(_merge(groups))
        qber = errors / detections if detections > 0 else 0.0
        return Estimate(scope, pulses, detections, qber, result.phase_error,
                        result.finite.key_length_bits if result.finite else 0.0, result.key_rate_bps, result,
                        str(result.parameters.get("winner", result.method)))


def _merge(groups: tuple[Observations, ...]) -> Observations:
    total = groups[0]
    for g in groups[1:]:
        total = total + g
    return total


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ValidationError):
        return "malformed block: " + "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:3])
    return f"rejected block: {exc}"
