"""The HDF5 store: layout a plain h5py user can read, crash safety, and clear errors for bad files."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import h5py
import numpy as np
import pytest

from qkdlab.errors import DataError
from qkdlab.store import SCHEMA_VERSION, DataGroup, DatasetSpec, FlushPolicy, Store
from qkdlab.units import Q_

GROUP = DataGroup("sweep", [DatasetSpec("bias", "V", "bias"), DatasetSpec("power", "W", "power"),
                            DatasetSpec("trace", "V", "a trace", shape=(4,))],
                  signal="power", axes=["bias"], fixed={"time": (np.arange(4) * 1e-9, "s")})


def write_run(path: Path, points: int, **kwargs) -> str:
    with Store(path).new_run("test-kind", [GROUP], parameters={"start": Q_(-2, "V"), "count": points,
                                                                "names": ["a", "b"], "nested": {"k": 1}},
                             bench_config="name: test bench\n",
                             instruments={"pm": {"driver": "thorlabs_pm100", "resource": "USB::1", "identity": "X",
                                                 "settings": {"wavelength": {"value": 1.55e-6, "unit": "m"}}}},
                             **kwargs) as run:
        for i in range(points):
            run.append("sweep", bias=Q_(i, "mV"), power=i * 1e-6, trace=np.full(4, float(i)))
        return run.name


def test_a_plain_h5py_user_finds_everything_with_units_and_nexus_attributes(tmp_path: Path) -> None:
    path = tmp_path / "runs.h5"
    name = write_run(path, 5)
    with h5py.File(path, "r") as f:
        assert f.attrs["NX_class"] == "NXroot" and f.attrs["qkdlab_schema_version"] == SCHEMA_VERSION
        assert f.attrs["default"] == name
        entry = f[name]
        assert entry.attrs["NX_class"] == "NXentry" and entry.attrs["kind"] == "test-kind"
        # NeXus fields (schema 2): the state is written through the writer's own handle
        assert entry["status"][()].decode() == "completed" and entry["points"][()] == 5
        start, end = entry["start_time"][()].decode(), entry["end_time"][()].decode()
        assert start[-6] in "+-" and "T" in start  # ISO 8601 with zone
        assert end >= start and entry["title"][()].decode() == "test-kind"
        assert len(entry.attrs["run_uuid"]) == 36
        data = entry["sweep"]
        assert data.attrs["NX_class"] == "NXdata" and data.attrs["signal"] == "power"
        assert list(data.attrs["axes"]) == ["point"] and data.attrs["bias_indices"] == 0  # bias: not declared sorted
        for ds in (data["bias"], data["power"], data["trace"], data["time"]):
            assert "units" in ds.attrs
        assert data["bias"].attrs["units"] == "V"
        np.testing.assert_allclose(data["bias"][:], np.arange(5) * 1e-3)  # mV converted to the declared V
        assert entry["parameters/start"][()] == -2 and entry["parameters/start"].attrs["units"] == "V"
        assert "test bench" in entry["bench/config"][()].decode()
        assert entry["bench/instruments/pm"].attrs["identity"] == "X"


def test_reader_returns_quantities_parameters_and_instrument_settings(tmp_path: Path) -> None:
    path = tmp_path / "runs.h5"
    write_run(path, 3)
    write_run(path, 2)
    store = Store(path)
    assert [r.points for r in store.runs()] == [3, 2]
    run = store.read(2)
    assert run.name == "run_0002" and run.kind == "test-kind"
    assert run.data("sweep", "power").to("uW").magnitude.tolist() == pytest.approx([0.0, 1.0])
    assert run.data("sweep", "time").to("ns").magnitude.tolist() == pytest.approx([0, 1, 2, 3])
    assert run.parameter("start") == Q_(-2, "V")
    assert run.parameter("count") == 2 and run.parameter("names") == ["a", "b"] and run.parameter("nested") == {"k": 1}
    assert run.instruments["pm"]["settings"]["wavelength"]["unit"] == "m"
    with pytest.raises(DataError, match="no dataset sweep/nope"):
        run.data("sweep", "nope")


def test_appending_checks_names_and_shapes(tmp_path: Path) -> None:
    with Store(tmp_path / "f.h5").new_run("k", [GROUP]) as run:
        with pytest.raises(ValueError, match="missing datasets"):
            run.append("sweep", bias=1.0, power=1.0)
        with pytest.raises(ValueError, match="shape"):
            run.append("sweep", bias=1.0, power=1.0, trace=np.zeros(3))
        assert run.extend("sweep", bias=np.zeros(3), power=np.ones(3), trace=np.zeros((3, 4))) == 3
    assert Store(tmp_path / "f.h5").runs()[0].points == 3


def test_keyboard_interrupt_marks_the_run_aborted_and_keeps_the_points(tmp_path: Path) -> None:
    path = tmp_path / "f.h5"
    with pytest.raises(KeyboardInterrupt):
        with Store(path).new_run("k", [GROUP]) as run:
            run.append("sweep", bias=1.0, power=2.0, trace=np.zeros(4))
            raise KeyboardInterrupt
    summary = Store(path).runs()[0]
    assert (summary.status, summary.points) == ("aborted", 1)
    assert "Ctrl-C" in summary.reason


def test_an_exception_marks_the_run_failed_with_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "f.h5"
    with pytest.raises(RuntimeError):
        with Store(path).new_run("k", [GROUP]) as run:
            run.append("sweep", bias=1.0, power=2.0, trace=np.zeros(4))
            raise RuntimeError("the laser caught fire")
    summary = Store(path).runs()[0]
    assert summary.status == "failed" and "laser caught fire" in summary.reason and summary.points == 1


def test_a_live_reader_sees_points_while_they_are_written(tmp_path: Path) -> None:
    path = tmp_path / "f.h5"
    with Store(path).new_run("k", [GROUP]) as run:
        run.append("sweep", bias=1.0, power=2.0, trace=np.zeros(4))
        with h5py.File(path, "r", swmr=True) as reader:
            ds = reader[f"{run.name}/sweep/power"]
            assert ds.shape == (1,)
            run.append("sweep", bias=2.0, power=3.0, trace=np.zeros(4))
            ds.refresh()
            assert ds.shape == (2,) and ds[1] == 3.0
        assert Store(path).runs()[0].status == "running"


def test_flush_policy_every_n_points(tmp_path: Path) -> None:
    path = tmp_path / "f.h5"
    with Store(path).new_run("k", [GROUP], flush=FlushPolicy(every_points=3)) as run:
        flushed = []
        original = run.flush
        run.flush = lambda: (flushed.append(run.points()), original())  # type: ignore[method-assign]
        for i in range(7):
            run.append("sweep", bias=float(i), power=0.0, trace=np.zeros(4))
    assert flushed == [3, 6]
    assert Store(path).runs()[0].points == 7
    with pytest.raises(ValueError):
        FlushPolicy(every_points=0)


@pytest.mark.parametrize(("content", "problem"), [
    (b"", "empty"),
    (b"this is a text file, not HDF5\n" * 10, "not an HDF5 file"),
])
def test_bad_files_are_named_with_the_problem(tmp_path: Path, content: bytes, problem: str) -> None:
    path = tmp_path / "bad.h5"
    path.write_bytes(content)
    with pytest.raises(DataError, match=problem) as info:
        Store(path).runs()
    assert str(path) in str(info.value)
    with pytest.raises(DataError, match=problem):  # and nothing is written over it
        write_run(path, 1)
    assert path.read_bytes() == content


def test_missing_file_truncated_file_and_missing_run(tmp_path: Path, monkeypatch) -> None:
    import qkdlab.store.files as files

    def no_lock_wait(seconds: float) -> None:
        raise AssertionError("a bad file was retried as if another process held its lock")
    # (HDF5 reports a truncated file with "sblock": it once passed for a lock, and waited 10 s)
    monkeypatch.setattr(files, "time", SimpleNamespace(monotonic=time.monotonic, sleep=no_lock_wait))
    with pytest.raises(DataError, match="no such file"):
        Store(tmp_path / "nothing.h5").runs()
    path = tmp_path / "f.h5"
    write_run(path, 50)
    with pytest.raises(DataError, match=r"no run 'run_0009'; runs in this file: run_0001"):
        Store(path).read("run_0009")
    truncated = tmp_path / "cut.h5"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DataError, match="truncated|cannot open") as info:
        Store(truncated).runs()
    assert str(truncated) in str(info.value)


def test_files_of_other_programs_and_newer_schemas_are_refused(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = 1
    with pytest.raises(DataError, match="not a qkdlab data file"):
        Store(foreign).runs()
    with pytest.raises(DataError, match="not a qkdlab data file"):
        write_run(foreign, 1)
    newer = tmp_path / "newer.h5"
    write_run(newer, 1)
    with h5py.File(newer, "r+") as f:
        f.attrs["qkdlab_schema_version"] = SCHEMA_VERSION + 1
    with pytest.raises(DataError, match="upgrade qkdlab"):
        Store(newer).runs()


# -- crash safety, in real separate processes ----------------------------------------------------------
WRITER = textwrap.dedent("""
    import sys, time
    import numpy as np
    from qkdlab.store import DataGroup, DatasetSpec, Store
    group = DataGroup("sweep", [DatasetSpec("bias", "V"), DatasetSpec("power", "W")], signal="power", axes=["bias"])
    with Store(sys.argv[1]).new_run("killme", [group]) as run:
        for i in range(int(sys.argv[2])):
            run.append("sweep", bias=float(i), power=float(i) * 1e-3)
            time.sleep(float(sys.argv[3]))
""")


def _start_writer(tmp_path: Path, path: Path, points: int, pause: float) -> subprocess.Popen:
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    return subprocess.Popen([sys.executable, str(script), str(path), str(points), str(pause)])


def _wait_for_points(path: Path, at_least: int, writer: subprocess.Popen, timeout: float = 120.0) -> int:
    """Until the writer has committed ``at_least`` points; fails at once if it ended (it never ends by itself)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert writer.poll() is None, f"the writer ended early with exit code {writer.returncode}"
        try:
            runs = Store(path).runs()
            if runs and runs[-1].points >= at_least:
                return runs[-1].points
        except DataError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"the writer never reached {at_least} points")


def test_sigkill_mid_run_leaves_every_written_point_and_a_recoverable_file(tmp_path: Path) -> None:
    path = tmp_path / "crash.h5"
    write_run(path, 4)  # an earlier, completed run must survive everything below
    writer = _start_writer(tmp_path, path, 100000, 0.002)
    try:
        seen = _wait_for_points(path, 30, writer)
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    runs = Store(path).runs()
    killed = runs[1]
    assert killed.status != "completed" and killed.points >= seen
    assert "interrupted" in killed.reason  # the writer is gone, and the listing says so
    data = Store(path).read(2)
    power = data.data("sweep", "power").to("W").magnitude
    np.testing.assert_allclose(power, np.arange(power.size) * 1e-3)  # every point intact, in order
    # The next run recovers the file: the dead run is marked failed, the first run untouched.
    write_run(path, 2)
    after = Store(path).runs()
    assert [r.status for r in after] == ["completed", "failed", "completed"]
    assert after[1].points == power.size and after[0].points == 4
    assert Store(path).read(1).data("sweep", "power").size == 4


def test_recovery_is_refused_while_the_writer_lives(tmp_path: Path) -> None:
    path = tmp_path / "busy.h5"
    writer = _start_writer(tmp_path, path, 100000, 0.01)
    try:
        _wait_for_points(path, 2, writer)
        with pytest.raises(DataError, match="being written by pid"):
            write_run(path, 1)
        assert Store(path).runs()[0].status == "running"
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()


FILLER = textwrap.dedent("""
    import resource, signal, sys
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)   # get EFBIG instead of being killed
    limit = int(sys.argv[2])
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    import numpy as np
    from qkdlab.errors import DataError
    from qkdlab.store import DataGroup, DatasetSpec, Store
    group = DataGroup("big", [DatasetSpec("trace", "V", shape=(4096,))], signal="trace")
    try:
        with Store(sys.argv[1]).new_run("fill", [group]) as run:
            for i in range(100000):
                run.append("big", trace=np.random.default_rng(i).normal(size=4096))
    except DataError as exc:
        print("DATAERROR", exc)
        sys.exit(3)
""")


def test_a_full_disk_gives_a_clear_error_and_spares_earlier_runs(tmp_path: Path) -> None:
    path = tmp_path / "full.h5"
    write_run(path, 20)
    script = tmp_path / "filler.py"
    script.write_text(FILLER)
    limit = path.stat().st_size + 3_000_000  # room for some points, then the "disk" is full
    result = subprocess.run([sys.executable, str(script), str(path), str(limit)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 3, result.stderr
    assert "disk is full" in result.stdout and str(path) in result.stdout
    runs = Store(path).runs()
    assert runs[0].status == "completed" and runs[0].points == 20
    assert Store(path).read(1).data("sweep", "power").size == 20


@pytest.fixture
def read_only_dir(tmp_path: Path):
    """A directory holding one completed run that this process cannot write to.

    Unprivileged: plain permissions. As root (which ignores permissions): a tmpfs remounted
    read-only, skipped where mounting is not allowed.
    """
    target = tmp_path / "ro"
    target.mkdir()
    if os.geteuid() != 0:
        write_run(target / "old.h5", 3)
        os.chmod(target / "old.h5", 0o444)
        os.chmod(target, 0o555)
        yield target
        os.chmod(target, 0o755)
        return
    mount = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(target)], capture_output=True)
    if mount.returncode != 0:
        pytest.skip("running as root without permission to mount a read-only filesystem")
    try:
        write_run(target / "old.h5", 3)
        subprocess.run(["mount", "-o", "remount,ro", str(target)], check=True)
        yield target
    finally:
        subprocess.run(["umount", str(target)], check=False)


def test_a_read_only_directory_gives_a_clear_error(read_only_dir: Path) -> None:
    group = DataGroup("d", [DatasetSpec("x", "V")], signal="x")
    for target in (read_only_dir / "new.h5", read_only_dir / "old.h5"):
        with pytest.raises(DataError, match="permission denied|read-only") as info:
            Store(target).new_run("k", [group])
        assert str(target) in str(info.value)
    assert Store(read_only_dir / "old.h5").runs()[0].points == 3
    assert not (read_only_dir / "new.h5").exists()
