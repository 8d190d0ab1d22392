"""The live estimator: agreement with the offline analysis, alarms, rejection of bad blocks, the view."""

import math
import time
from types import SimpleNamespace

import numpy as np
import pytest

from qkdlab.analysis import AnalysisSource, FiniteKey, key_rate
from qkdlab.analysis.keyrate import grouped_key_rate
from qkdlab.live import AlarmPolicy, LinkDrift, LiveEstimator, SimulatedLink
from qkdlab.live.view import LiveState, render, sparkline

SOURCE = AnalysisSource.flawed("bb84", 0.063, 1e-7)
GROUPED = AnalysisSource.flawed("bb84", 0.063, 1e-7, correlation_length=2)


def add(blocks):
    total = list(blocks[0])
    for block in blocks[1:]:
        total = [a + b for a, b in zip(total, block)]
    return total


@pytest.mark.parametrize("source", [SOURCE, GROUPED], ids=["no correlations", "l_c = 2"])
def test_live_numbers_are_the_offline_numbers(source):
    link = SimulatedLink(source, block_emissions=5e8, distance_km=15.0, seed=3)
    blocks = list(link.blocks(4))
    estimator = LiveEstimator(source)
    updates = [estimator.push(b) for b in blocks]
    assert all(u.accepted for u in updates)
    total = add(blocks)
    finite = FiniteKey(2e9)
    if source.correlation_length:
        offline = grouped_key_rate(source, total, "best", finite)
    else:
        offline = key_rate(source, total[0], "best", finite)
    last = updates[-1].accumulated
    assert last.result.key_rate_per_pulse == pytest.approx(offline.key_rate_per_pulse, rel=1e-12)
    assert last.key_length_bits == pytest.approx(offline.finite.key_length_bits, rel=1e-12)
    assert last.key_length_bits > 0 and last.emissions == 2e9
    assert last.winner == offline.parameters["winner"] != ""          # the estimator uses best and names the winner
    first = updates[0].block
    single = (grouped_key_rate(source, blocks[0], "best", FiniteKey(5e8)) if source.correlation_length
              else key_rate(source, blocks[0][0], "best", FiniteKey(5e8)))
    assert first.key_rate_bps == pytest.approx(single.key_rate_bps, rel=1e-12)


def test_grouped_counts_agree_with_the_expected_value_analysis():
    """Counted groups of a channel's expected values give the channel's grouped finite key."""
    from qkdlab.analysis import Channel

    channel = Channel()
    per_group = channel.observations(GROUPED.states, 30.0, block_size=1e10 / 3)
    counted = per_group.model_copy(update={"expected": False,
                                           "setting_probabilities": tuple(map(tuple, per_group.emission_array / 1e10 * 3))})
    grouped = grouped_key_rate(GROUPED, [counted] * 3, "ltqc", 1e10)
    expected = key_rate(GROUPED, channel, "ltqc", 1e10, distance_km=30.0)
    assert grouped.key_rate_per_pulse == pytest.approx(expected.key_rate_per_pulse, rel=1e-9)
    with pytest.raises(ValueError, match="3 post-processing groups"):
        grouped_key_rate(GROUPED, [counted] * 2, "ltqc", 1e10)


def test_an_im_bias_drift_raises_the_alarm_within_a_few_blocks():
    link = SimulatedLink(SOURCE, block_emissions=1e9, distance_km=10.0, seed=5, drift=LinkDrift(im_bias_v_per_block=0.4))
    estimator = LiveEstimator(SOURCE)
    first_alarm = None
    for i, block in enumerate(link.blocks(8)):
        update = estimator.push(block)
        if any(a.kind == "intensity" for a in update.alarms):
            first_alarm = i
            break
    assert first_alarm is not None and 1 <= first_alarm <= 4
    assert "intensity-modulator bias" in next(a.message for a in update.alarms if a.kind == "intensity")


def test_a_phase_modulator_drift_raises_the_states_alarm():
    link = SimulatedLink(SOURCE, block_emissions=1e9, distance_km=10.0, seed=6,
                         drift=LinkDrift(pm_vpi_fraction_per_block=0.03))
    estimator = LiveEstimator(SOURCE)
    kinds = [[a.kind for a in estimator.push(b).alarms] for b in link.blocks(5)]
    assert kinds[0] == []
    assert any("states" in k for k in kinds[1:4])


def test_no_alarm_without_drift():
    link = SimulatedLink(SOURCE, block_emissions=1e9, distance_km=10.0, seed=7)
    estimator = LiveEstimator(SOURCE)
    assert all(not estimator.push(b).alarms for b in link.blocks(6))


def test_qber_alarm_threshold():
    link = SimulatedLink(SOURCE, block_emissions=1e8, distance_km=10.0, seed=8)
    estimator = LiveEstimator(SOURCE, alarms=AlarmPolicy(qber_threshold=1e-6))
    assert any(a.kind == "qber" for a in estimator.push(link.next_block()).alarms)


def test_bad_blocks_are_rejected_with_a_reason_and_change_nothing():
    link = SimulatedLink(SOURCE, block_emissions=5e8, distance_km=10.0, seed=9)
    estimator = LiveEstimator(SOURCE)
    good = estimator.push(link.next_block())
    block = link.next_block()[0]
    bad_cases = {
        "malformed": {"protocol": "bb84"},
        "wrong type": "counts",
        "shape": block.model_dump() | {"counts": block.counts[:2]},
        "other intensities": (block.model_copy(update={"intensities": (0.6, 0.1, 0.0)}),),
        "expected values": (block.model_copy(update={"expected": True}),),
        "two groups": (block, block),
    }
    for name, bad in bad_cases.items():
        update = estimator.push(bad)
        assert not update.accepted, name
        assert update.reason and update.accumulated is None, name
    assert estimator.accepted == 1
    after = estimator.push((block,))
    assert after.accepted and after.accumulated.emissions == good.accumulated.emissions + block.total_emissions
    assert "malformed block" in estimator.push({"protocol": "bb84"}).reason


def test_view_shows_the_estimate_and_marks_a_stopped_producer_stale(monkeypatch):
    from rich.console import Console

    link = SimulatedLink(SOURCE, block_emissions=5e8, distance_km=10.0, seed=10)
    estimator = LiveEstimator(SOURCE)
    state = LiveState("test", "ltqc", estimator.assumptions, stale_after_s=1.0)
    for block in link.blocks(3):
        state.add(estimator.push(block))
    state.add(estimator.push("junk"))
    import qkdlab.live.view as view

    # the view's clock, pinned: half the stale time after the last block, then well past it (a real
    # clock would make the first render depend on how fast this machine gets to it)
    clock = SimpleNamespace(monotonic=lambda: state.last_time + 0.5, strftime=time.strftime, localtime=time.localtime)
    monkeypatch.setattr(view, "time", clock)
    console = Console(width=120, record=True)
    console.print(render(state))
    text = console.export_text()
    assert "key rate (this block)" in text and "QBER" in text and "STALE" not in text
    assert "3 accepted, 1 rejected" in text
    best = LiveState("test", "best", estimator.assumptions)
    best.add(estimator.push(next(iter(link.blocks(1)))))
    console = Console(width=120, record=True)
    console.print(render(best))
    assert "winning method" in console.export_text()
    clock.monotonic = lambda: state.last_time + 10.0
    console = Console(width=120, record=True)
    console.print(render(state))
    assert "STALE" in console.export_text()


def test_sparkline():
    assert sparkline([1, 2, 3, 4, 5, 6, 7, 8]) == "▁▂▃▄▅▆▇█"
    assert sparkline([]) == "" and len(sparkline(list(range(100)), width=40)) == 40
    assert set(sparkline([0.0, 0.0])) == {"▁"}


def test_update_latency_is_small():
    link = SimulatedLink(GROUPED, block_emissions=1e9, distance_km=10.0, seed=11)
    estimator = LiveEstimator(GROUPED)
    latencies = [estimator.push(b).latency_s for b in link.blocks(5)]
    assert np.median(latencies) < 0.5          # generous here; benchmarks/bench_live.py measures it
    assert math.isfinite(sum(latencies))


def test_a_zero_key_says_why_on_screen() -> None:
    from rich.console import Console

    from qkdlab.examples import flawed_source_model
    from qkdlab.live import LiveEstimator, SimulatedLink
    from qkdlab.live.view import LiveState, render

    model = flawed_source_model(epsilon=3e-2)  # a side channel that leaves no key
    estimator = LiveEstimator(model)
    state = LiveState("t", estimator.method, estimator.assumptions, 5.0)
    link = SimulatedLink(model, distance_km=10.0, block_emissions=1e9, seed=3)
    state.add(estimator.push(link.next_block()))
    console = Console(width=300, record=True)
    console.print(render(state))
    text = console.export_text()
    assert "why no key" in text and "phase-error bound" in text
