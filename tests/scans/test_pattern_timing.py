"""Issue 20, AWG pattern timing: the arb filter reaches the physics and the scan records, and the two
arbs run aligned only after ``FUNC:ARB:SYNC``."""

from __future__ import annotations

import numpy as np
import pytest

from qkdlab.bench import Bench
from qkdlab.config import builtin_sim_config
from qkdlab.scans import run_scan
from qkdlab.scans.leakage_light import leakage_ratio
from qkdlab.sim.physics import ARB_FILTER_RINGING
from qkdlab.store import Store


def _leakage(tmp_path, awg_filter: str) -> tuple[float, object]:
    store = Store(tmp_path / f"leak_{awg_filter}.h5")
    with Bench(builtin_sim_config(), simulate=True).open() as bench:
        summary = run_scan("leakage-light", bench, store, acquisitions=1, averages=16, awg_filter=awg_filter)
        params = bench.sim.model.params
    run = store.read(summary.name)
    return leakage_ratio(run), (run, params)


def test_normal_filter_rings_into_the_inter_pulse_light_and_the_run_records_it(tmp_path) -> None:
    norm, (run, params) = _leakage(tmp_path, "NORM")
    step, (step_run, _) = _leakage(tmp_path, "STEP")
    assert norm > step > 0
    # Rough size, from the IM's cos² law at the null: ringing of a fraction rho of the carving drive
    # lifts the inter-pulse transmission by sin²(π rho V / (2 Vπ)) of the peak (≈ 0.02 here), ~10x the
    # 1/ER floor that STEP leaves.
    rho = ARB_FILTER_RINGING["NORM"]
    expected = np.sin(0.5 * np.pi * rho * 3.6 / params.im_vpi_rf_v) ** 2
    assert norm - step == pytest.approx(expected, rel=0.25)
    assert step == pytest.approx(10 ** (-params.im_extinction_ratio_db / 10), rel=0.1)
    assert run.parameter("awg_filter") == "NORM" and step_run.parameter("awg_filter") == "STEP"
    settings = run.instruments["awg"]["settings"]
    assert settings["channel 1"]["arb_filter"]["value"] == "NORM"
    assert "arbs synchronized" in settings and settings["sync_output"]["value"] is True


def test_unsynchronised_arbs_run_misaligned_until_synchronised() -> None:
    with Bench(builtin_sim_config(), simulate=True).open() as bench:
        awg, emulator, model = bench["awg"], bench.sim.emulators["awg"], bench.sim.model
        ramp = np.linspace(-1.0, 1.0, 16)
        awg.play_waveform(1, "IMPAT", ramp, 100e6, 2.0)
        awg.play_waveform(2, "PMPAT", ramp, 100e6, 2.0)      # the driver synchronises: both play arbs
        assert awg.arbs_synchronized and emulator.synchronized
        assert model.awg[2].pattern_offset == 0
        awg.upload_waveform(2, "PMPAT2", ramp[::-1])
        awg.ch2.arb_waveform = "PMPAT2"                     # a raw selection, no resynchronisation
        assert not emulator.synchronized and model.awg[2].pattern_offset == emulator.unsync_skew
        assert not awg.arbs_synchronized and awg.snapshot()["arbs synchronized"]["value"] is False
        aligned_before = model.pulse_train().phase.copy()
        awg.synchronize_arbs()
        assert emulator.synchronized and model.awg[2].pattern_offset == 0
        assert not np.allclose(aligned_before, model.pulse_train().phase)
        assert awg.snapshot()["arbs synchronized"]["value"] is True
