"""Study files: labelled arrays for xarray, resume, refusal of a changed spec, rebuild after a kill."""

from __future__ import annotations

import numpy as np
import pytest

from qkdlab.errors import ConfigError, DataError
from qkdlab.sweep.evaluate import evaluate_chunk
from qkdlab.sweep.spec import parse_spec
from qkdlab.sweep.study import DONE, FAILED, MISSING, StudyFile, open_study, study_kind

SPEC = {"fixed": {"signal": 0.5, "delta": 0.063}, "axes": {"method": ["ltqc", "gllp"], "distance": "0:60:20",
                                                           "epsilon": [0.0, 1e-6]}}


def _fill(path, spec, indices=None):
    with StudyFile.open(path, spec) as study:
        todo = study.missing() if indices is None else indices
        study.write(evaluate_chunk(spec.canonical(), [int(i) for i in todo]))


def test_xarray_reads_labelled_arrays_that_match_the_analysis(tmp_path):
    from qkdlab.analysis import key_rate
    from qkdlab.sweep.parameters import point_inputs

    spec = parse_spec(SPEC)
    _fill(tmp_path / "s.h5", spec)
    ds = open_study(tmp_path / "s.h5")
    assert ds.key_rate_bps.dims == ("method", "distance", "epsilon")
    assert list(ds["method"].values) == ["ltqc", "gllp"] and ds.distance.attrs["units"] == "km"
    assert (ds.status == DONE).all() and (ds.computed == 1).all()
    # an independent call of the analysis at one labelled point gives the stored number
    inputs = point_inputs("bb84", {"signal": 0.5, "delta": 0.063, "method": "gllp", "distance": 40.0,
                                   "epsilon": 1e-6})
    direct = key_rate(inputs.source, inputs.channel, "gllp", distance_km=40.0)
    assert ds.key_rate_bps.sel({"method": "gllp", "distance": 40.0, "epsilon": 1e-6}).item() == direct.key_rate_bps
    assert ds.solver.sel({"method": "gllp", "distance": 40.0, "epsilon": 1e-6}).item().startswith("CLARABEL")
    assert study_kind(tmp_path / "s.h5") and not study_kind(tmp_path / "none.h5")
    assert ds.method_used.sel({"method": "gllp", "distance": 40.0, "epsilon": 1e-6}).item() == "gllp"


def test_method_best_records_the_winner(tmp_path):
    from qkdlab.sweep.parameters import known_methods

    if "best" not in known_methods():
        pytest.skip("this analysis has no method 'best'")
    spec = parse_spec({"fixed": {"method": "best", "delta": 0.063, "epsilon": 1e-6}, "axes": {"distance": [100.0]}})
    _fill(tmp_path / "s.h5", spec)
    assert open_study(tmp_path / "s.h5").method_used.item() in known_methods()


def test_resume_computes_only_what_is_missing(tmp_path):
    spec = parse_spec(SPEC)
    _fill(tmp_path / "s.h5", spec, [0, 5, 11])
    with StudyFile.open(tmp_path / "s.h5", spec) as study:
        assert len(study.missing()) == spec.size - 3
        assert not {0, 5, 11} & set(study.missing().tolist())
    _fill(tmp_path / "s.h5", spec)
    _fill(tmp_path / "whole.h5", spec)
    a, b = open_study(tmp_path / "s.h5"), open_study(tmp_path / "whole.h5")
    assert (a.computed == 1).all()
    for name in a.data_vars:
        assert np.array_equal(a[name].values, b[name].values, equal_nan=a[name].dtype.kind == "f"), name


def test_a_changed_spec_is_refused_with_what_changed(tmp_path):
    spec = parse_spec(SPEC)
    _fill(tmp_path / "s.h5", spec, [0])
    changed = parse_spec({**SPEC, "fixed": {"signal": 0.4, "delta": 0.063}})
    with pytest.raises(ConfigError, match=r"different spec \(changed: fixed.signal\).*another --out"):
        StudyFile.open(tmp_path / "s.h5", changed)


def test_other_files_are_refused(tmp_path):
    import h5py

    with h5py.File(tmp_path / "other.h5", "w"):
        pass
    with pytest.raises(DataError, match="not a qkdlab sweep study"):
        StudyFile.open(tmp_path / "other.h5", parse_spec(SPEC))
    with pytest.raises(DataError, match="does not exist"):
        StudyFile.open(tmp_path / "no" / "s.h5", parse_spec(SPEC))


def test_failed_points_keep_their_reason_and_do_not_stop_the_rest(tmp_path):
    # the loss-tolerant method assumes ε = 0: the ε > 0 points fail, the others are computed
    spec = parse_spec({"axes": {"epsilon": [0.0, 1e-6], "distance": [0.0, 50.0]}, "fixed": {"method": "lt"}})
    _fill(tmp_path / "s.h5", spec)
    ds = open_study(tmp_path / "s.h5")
    assert (ds.status.sel(epsilon=0.0) == DONE).all() and (ds.status.sel(epsilon=1e-6) == FAILED).all()
    assert "assumes ε = 0" in ds.failure_reason.sel(epsilon=1e-6, distance=50.0).item()
    assert np.isnan(ds.key_rate_bps.sel(epsilon=1e-6)).all()
    with StudyFile.open(tmp_path / "s.h5", spec) as study:
        assert len(study.missing()) == 0


def test_a_file_left_open_by_a_killed_writer_is_rebuilt_from_what_is_done(tmp_path):
    import os
    import signal
    import subprocess
    import sys

    spec = parse_spec(SPEC)
    path = tmp_path / "s.h5"
    # a writer that records two batches and is then SIGKILLed with the file open in SWMR mode
    code = ("import json, os, signal, sys; from qkdlab.sweep.spec import parse_spec; "
            "from qkdlab.sweep.study import StudyFile; from qkdlab.sweep.evaluate import evaluate_chunk; "
            f"spec = parse_spec(json.loads({spec.canonical()!r})); s = StudyFile.open({str(path)!r}, spec); "
            "s.write(evaluate_chunk(spec.canonical(), [0, 1, 2])); s.write(evaluate_chunk(spec.canonical(), [7])); "
            "os.kill(os.getpid(), signal.SIGKILL)")
    proc = subprocess.run([sys.executable, "-c", code], env={**os.environ}, timeout=120)
    assert proc.returncode == -signal.SIGKILL
    with StudyFile.open(path, spec) as study:
        assert sorted(set(range(spec.size)) - set(study.missing().tolist())) == [0, 1, 2, 7]
        assert study.status[3] == MISSING
    _fill(path, spec)
    _fill(tmp_path / "whole.h5", spec)
    a, b = open_study(path), open_study(tmp_path / "whole.h5")
    for name in a.data_vars:
        assert np.array_equal(a[name].values, b[name].values, equal_nan=a[name].dtype.kind == "f"), name
