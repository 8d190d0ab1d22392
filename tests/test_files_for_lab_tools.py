"""qkdlab's HDF5 files as other lab tools see them: h5py, xarray (h5netcdf), NeXus (nexusformat).

Each test opens the files with the other tool, not with qkdlab, so a layout change that breaks a
lab's own scripts fails here.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from qkdlab.bench import Bench
from qkdlab.cli import main
from qkdlab.errors import DataError
from qkdlab.scans import SCANS, run_scan
from qkdlab.store import SCHEMA_VERSION, Store, open_run
from qkdlab.store.files import _LOCK_WAIT_S

xr = pytest.importorskip("xarray")
nexus = pytest.importorskip("nexusformat.nexus")

OLD_FILE = Path(__file__).parent / "data" / "schema1-run.h5"  # written by qkdlab 0.1.0 at schema 1


def _groups_with_datasets(path: Path) -> list[str]:
    found: list[str] = []

    def visit(name: str, obj: object) -> None:
        if isinstance(obj, h5py.Group) and any(isinstance(v, h5py.Dataset) for v in obj.values()):
            found.append(name)
    with h5py.File(path, "r") as handle:
        handle.visititems(visit)
    return found


def test_xarray_sees_named_dimensions_in_every_group(bench_file: Path) -> None:
    groups = _groups_with_datasets(bench_file)
    assert len(groups) > 30
    for group in groups:
        with xr.open_dataset(bench_file, engine="h5netcdf", group=group) as ds:
            phony = [d for d in ds.dims if str(d).startswith("phony_dim")]
            assert not phony, f"{group}: anonymous dimensions {phony}"
    with xr.open_dataset(bench_file, engine="h5netcdf", group="run_0001/sweep") as sweep:
        assert "bias" in sweep.coords and sweep["power"].dims == ("point",)
    with xr.open_dataset(bench_file, engine="h5netcdf", group="run_0006/traces") as traces:
        assert "time" in traces.coords and traces["volts"].dims == ("point", "time")


def test_open_run_gives_the_same_labelled_data_as_h5netcdf(bench_file: Path) -> None:
    for run in Store(bench_file).runs():
        data = Store(bench_file).read(run.name)
        for group in data.groups:
            mine = open_run(bench_file, run.name, group)
            with xr.open_dataset(bench_file, engine="h5netcdf", group=f"{run.name}/{group}") as theirs:
                for key in mine.data_vars:
                    np.testing.assert_array_equal(np.asarray(mine[key]), np.asarray(theirs[key]))
                    assert mine[key].dims == theirs[key].dims
            assert mine.attrs["status"] == "completed"


def test_every_default_plot_resolves_in_a_nexus_reader(bench_file: Path) -> None:
    root = nexus.nxload(str(bench_file))
    entries = [e for name, e in root.entries.items() if name.startswith("run_")]
    assert len(entries) == len(SCANS)
    for entry in entries:
        assert str(entry["end_time"].nxvalue) >= str(entry["start_time"].nxvalue)
        assert entry["title"].nxvalue and entry["status"].nxvalue == "completed"
        data = entry.plottable_data
        signal_, axes = data.nxsignal, data.nxaxes
        assert signal_ is not None and len(axes) == signal_.ndim, entry.nxname
        for dim, axis in enumerate(axes):
            values = np.asarray(axis.nxvalue)
            assert values.ndim == 1 and values.shape[0] == signal_.shape[dim], (entry.nxname, axis.nxname)
            steps = np.diff(values)
            assert np.all(steps > 0) or np.all(steps < 0), f"{entry.nxname}: axis {axis.nxname} is not monotonic"
    with h5py.File(bench_file, "r") as handle:
        unclassed = []
        handle.visititems(lambda name, obj: unclassed.append(name) if isinstance(obj, h5py.Group)
                          and "NX_class" not in obj.attrs else None)
    assert not unclassed, f"groups without NX_class: {unclassed}"


SCAN = [sys.executable, "-m", "qkdlab.cli", "scan", "extinction-ratio", "--sim", "--points", "300",
        "--fine-points", "41", "--repeats", "3"]


def _two_timed_scans(alone: Path, watched: Path) -> tuple[float, float, str]:
    """Run the same scan twice at once, in two processes; hold a SWMR reader on ``watched`` from its
    start until after it ends. Returns both wall times and the status the reader saw at the end.

    Why at once: both scans then share whatever load the machine has, so their wall times compare
    fairly on a loaded CI machine (run one after the other, a change of load between them is
    indistinguishable from a lock wait).
    """
    start = time.monotonic()
    # output to files: nobody reads a pipe while both run, and a full one would stall a scan
    logs = {path: path.with_suffix(".err").open("w") for path in (alone, watched)}
    processes = {path: subprocess.Popen([*SCAN, "--out", str(path)], stdout=subprocess.DEVNULL, stderr=log)
                 for path, log in logs.items()}
    ended: dict[Path, float] = {}
    reader = None
    try:
        while len(ended) < 2:
            for path, process in processes.items():
                if path not in ended and process.poll() is not None:
                    ended[path] = time.monotonic() - start
            if reader is None and watched not in ended:
                try:
                    reader = h5py.File(watched, "r", swmr=True)
                    if "run_0001/status" not in reader:
                        reader.close()
                        reader = None
                except OSError:
                    pass
            assert time.monotonic() - start < 300, "the scans did not end within 300 s"
            time.sleep(0.02)
        for path, process in processes.items():
            assert process.returncode == 0, path.with_suffix(".err").read_text()
        assert reader is not None, "the reader never opened the watched file while its scan ran"
        reader["run_0001/status"].refresh()      # still open: the finished state must be visible through it
        status = reader["run_0001/status"][()].decode()
    finally:
        if reader is not None:
            reader.close()
        for path, process in processes.items():
            if process.poll() is None:
                process.kill()
                process.wait()
            logs[path].close()
    return ended[alone], ended[watched], status


def test_a_swmr_reader_cannot_break_a_finishing_scan(tmp_path: Path) -> None:
    alone, watched, seen = _two_timed_scans(tmp_path / "alone.h5", tmp_path / "watched.h5")
    assert seen == "completed"  # the writer recorded its end while the reader held the file
    run = Store(tmp_path / "watched.h5").runs()[0]
    assert run.status == "completed" and run.points == 300
    assert run.start_time <= run.stop_time and run.stop_time[:4] == run.start_time[:4]
    # No lock wait: a writer that reopened the file to record its end waited _LOCK_WAIT_S (10 s) for
    # the reader's lock. The margin is half of that, on top of 20 % for two processes sharing 2 cores.
    assert watched < 1.2 * alone + _LOCK_WAIT_S / 2, (watched, alone)


WRITER = textwrap.dedent("""
    import sys, time
    import numpy as np
    from qkdlab.store import DataGroup, DatasetSpec, Store
    group = DataGroup("sweep", [DatasetSpec("bias", "V"), DatasetSpec("power", "W"),
                                DatasetSpec("trace", "V", shape=(8,))], signal="power", axes=["bias"],
                      fixed={"time": (np.arange(8) * 1e-9, "s")})
    with Store(sys.argv[1]).new_run("killme", [group]) as run:
        for i in range(100000):
            run.append("sweep", bias=float(i), power=float(i) * 1e-3, trace=np.full(8, float(i)))
            time.sleep(0.002)
""")


def test_after_sigkill_repair_opens_the_file_in_every_reader(tmp_path: Path) -> None:
    path = tmp_path / "crash.h5"
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    writer = subprocess.Popen([sys.executable, str(script), str(path)])
    try:
        deadline = time.monotonic() + 120
        while True:
            assert writer.poll() is None, f"the writer ended early with exit code {writer.returncode}"
            assert time.monotonic() < deadline, "the writer did not commit 40 points within 120 s"
            try:
                runs = Store(path).runs()
            except DataError:       # not created yet, or caught while the writer sets it up
                runs = []
            if runs and runs[0].points >= 40:
                break
            time.sleep(0.05)
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    committed = Store(path).read(1).data("sweep", "power").size
    assert committed >= 40
    with pytest.raises(OSError):
        h5py.File(path, "r")  # the dead writer's flags: plain readers refuse before the repair
    result = CliRunner().invoke(main, ["runs", str(path), "--repair"])
    assert result.exit_code == 0, result.output
    assert "repaired" in result.output and "failed" in result.output
    with h5py.File(path, "r") as handle:
        assert handle["run_0001/status"][()].decode() == "failed"
        np.testing.assert_allclose(handle["run_0001/sweep/power"][:], np.arange(committed) * 1e-3)
    with xr.open_dataset(path, engine="h5netcdf", group="run_0001/sweep") as ds:
        assert ds.sizes["point"] == committed and ds.sizes["time"] == 8
    entry = nexus.nxload(str(path))["run_0001"]
    assert entry.plottable_data.nxsignal.shape == (committed,)
    again = CliRunner().invoke(main, ["runs", str(path), "--repair"])
    assert again.exit_code == 0 and "needs no repair" in again.output


def test_files_written_before_schema_2_still_read(tmp_path: Path) -> None:
    old = tmp_path / "old.h5"
    shutil.copy(OLD_FILE, old)
    [run] = Store(old).runs()
    assert (run.status, run.points, run.kind) == ("completed", 3, "extinction-ratio")
    assert run.stop_time >= run.start_time
    ds = open_run(old, 1)
    np.testing.assert_allclose(ds["bias"].values, [0.0, 1.0, 2.0])
    with Bench.simulated(seed=1).open() as bench:  # a new run in an old file: the file says schema 2 now
        run_scan("extinction-ratio", bench, Store(old), points=11, fine_points=5, repeats=1)
    assert [r.status for r in Store(old).runs()] == ["completed", "completed"]
    with h5py.File(old, "r") as handle:
        assert handle.attrs["qkdlab_schema_version"] == SCHEMA_VERSION == 2


# -- the SourceModel JSON: schema, units, provenance -----------------------------------------------
jsonschema = pytest.importorskip("jsonschema")


@pytest.fixture(scope="module")
def model_file(bench_file: Path) -> Path:
    from qkdlab.calibration.calibrate import CalibrationOptions, calibrate_file

    model = calibrate_file(bench_file, options=CalibrationOptions(passive_attenuation_db=65))
    path = bench_file.parent / "models" / "source-model.json"
    path.parent.mkdir()
    model.save(path)
    return path


def test_a_saved_model_validates_against_the_shipped_schema(model_file: Path) -> None:
    from qkdlab.schemas import SCHEMAS, generate, load_schema

    for name in SCHEMAS:  # the shipped files are what the contracts generate
        assert load_schema(name) == generate(name), f"{name} is stale: regenerate it with qkdlab.schemas.generate"
    document = json.loads(model_file.read_text())
    assert document["$schema"] == "qkdlab/schemas/source-model-v2.schema.json"
    jsonschema.validate(document, load_schema("source-model-v2.schema.json"))
    text = model_file.read_text()
    assert all(text.count(f'"{m}"') == 1 for m in document["methods"])  # every method text once
    units = []

    def collect(node):
        if isinstance(node, dict):
            if "value" in node and "unit" in node:
                units.append(node["unit"])
            for v in node.values():
                collect(v)
        elif isinstance(node, list):
            for v in node:
                collect(v)
    collect(document)
    assert units and "" not in units  # every number carries a unit, "1" when it is a plain number


def test_every_calibrated_number_names_its_file_hash_and_run_uuid(model_file: Path, bench_file: Path) -> None:
    from qkdlab.calibration import load_source_model
    from qkdlab.calibration.provenance import file_sha256

    document = json.loads(model_file.read_text())
    written = [p for p in _provenances(document)]
    assert written and all(p["file"] == "../bench.h5" for p in written)  # relative to the model file
    model = load_source_model(model_file)
    uuids = {r.name: Store(bench_file).read(r.name).attrs["run_uuid"] for r in Store(bench_file).runs()}
    bounds = [s.phase for s in model.states] + [model.delta, model.isolation, model.detectors.mismatch_ratio,
                                                model.leakage.mean_photons_per_slot, model.leakage.relative_energy]
    for bound in bounds:
        origin = bound.provenance
        assert origin is not None and Path(origin.file) == bench_file.resolve()
        assert len(origin.file_sha256) == 64 and isinstance(origin.runs, tuple)
        assert [uuids[r] for r in origin.runs] == list(origin.run_uuids)
    for part in model.epsilon.parts:
        if part.inventory == "measured":
            assert part.provenance is not None and part.provenance.run_uuids
    assert all(p.file_sha256 == file_sha256(bench_file) or p.file_sha256 for p in model.provenance)


def _provenances(node):
    if isinstance(node, dict):
        if "file_sha256" in node:
            yield node
        for v in node.values():
            yield from _provenances(v)
    elif isinstance(node, list):
        for v in node:
            yield from _provenances(v)


@pytest.mark.parametrize(("old", "new", "message"), [
    ('"unit": "rad"', '"unit": "furlongs"', "dimension"),
    ('"unit": "rad"', '"unit": "blorp"', "not a unit pint understands"),
])
def test_a_model_edited_with_a_wrong_unit_is_refused_with_one_line(model_file: Path, tmp_path: Path, old, new,
                                                                    message) -> None:
    edited = tmp_path / "edited.json"
    edited.write_text(model_file.read_text().replace(old, new, 1))
    result = CliRunner().invoke(main, ["keyrate", "--model", str(edited), "--distance", "10"])
    assert result.exit_code == 2 and message in result.output
    assert result.output.count("\n") == 1 and "Traceback" not in result.output


def test_models_written_at_schema_1_still_load(tmp_path: Path) -> None:
    from qkdlab.calibration import load_source_model

    model = load_source_model(Path(__file__).parent / "data" / "schema1-model.json")
    assert model.schema_version == 2 and model.isolation.unit == "1" and model.states[1].phase.unit == "rad"
    assert model.provenance[0].runs == ("run_0001", "run_0006")
    model.save(tmp_path / "again.json")
    assert load_source_model(tmp_path / "again.json") == model


def test_the_live_log_reads_with_pandas_and_says_what_it_rests_on(tmp_path: Path) -> None:
    pandas = pytest.importorskip("pandas")
    from qkdlab.examples import flawed_source_model
    from qkdlab.live import LiveEstimator, SimulatedLink, run_session
    from qkdlab.live.log import metadata_path

    model = flawed_source_model(epsilon=1e-7)
    link = SimulatedLink(model, distance_km=10.0, block_emissions=1e9, seed=1)
    log = tmp_path / "live-log.csv"
    run_session(LiveEstimator(model), (link.next_block() for _ in range(2)), title="t", log_path=log, show=False)
    meta = json.loads(metadata_path(log).read_text())
    assert meta["qkdlab_version"] and meta["utc_offset"] and meta["columns"]["time_unix_s"] == "s"
    assert meta["source"].startswith("SourceModel sha256:") and len(meta["source"].split(":")[1]) == 64
    frame = pandas.read_csv(log, parse_dates=["time"])  # the documented one call
    assert len(frame) == 2 and str(frame["time"].dt.tz) not in ("None", "")
    assert abs(frame["time"].iloc[0].timestamp() - frame["time_unix_s"].iloc[0]) < 2e-3  # both rounded to 1 ms


def test_calibrate_refuses_to_overwrite_a_model_of_runs_the_file_no_longer_holds(tmp_path: Path, bench_file: Path):
    data = tmp_path / "bench.h5"
    shutil.copy(bench_file, data)
    model = tmp_path / "model.json"
    args = ["calibrate", str(data), "-o", str(model), "--passive-attenuation", "65"]
    assert CliRunner().invoke(main, args).exit_code == 0
    assert CliRunner().invoke(main, args).exit_code == 0  # the same runs (a calibration group added): fine
    with h5py.File(data, "r+") as handle:  # another run under the same name: the data behind the model changed
        handle["run_0001"].attrs["run_uuid"] = "00000000-0000-4000-8000-000000000000"
    refused = CliRunner().invoke(main, args)
    assert refused.exit_code == 2 and "no longer holds" in refused.output and "--replace" in refused.output
    assert CliRunner().invoke(main, [*args, "--replace"]).exit_code == 0
