"""Bench probe: a guided, non-destructive first contact with new hardware (``qkdlab bench probe``).

A driver's command set comes from manuals and public drivers, some of it unverified (each
driver's docstring says which). Before the first real run a lab probes its bench once: for every
instrument the driver's identity query, then **every query the driver uses** (reads only), each
sent on its own with a short timeout and, on SCPI instruments, followed by an error-queue read.
Each command ends up *answered* (with the raw reply), *error* (the instrument queued an error;
the entry is recorded) or *timeout* (no reply: the firmware does not know it). With
``allow_set`` each setting is also written back with the value just read (so nothing changes,
the driver's safety limits apply, and its set/verify path is exercised).

The record is an HDF5 run of kind ``probe`` (through ``qkdlab.store``, like a scan) plus a readable
summary. Drivers use it: ``Bench(config, unsupported_queries=read_probe(path).unsupported_by_instrument())``
hands every instrument the queries its probe found unanswered, so optional read-backs skip them
from the first call instead of spending a timeout on each (``Instrument.ask_optional``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .drivers.base import Control, Instrument, SCPIInstrument, controls
from .errors import DataError, QkdlabError, Timeout
from .store import STRING, DataGroup, DatasetSpec, Store

__all__ = ["ProbeResult", "ProbeRecord", "probe_bench", "probe_instrument", "probe_queries", "read_probe",
           "write_probe", "PROBE_KIND"]

PROBE_KIND = "probe"
STATUSES = ("answered", "error", "timeout", "skipped")

_GROUP = DataGroup("commands", [
    DatasetSpec("instrument", "", "instrument name in the bench config", dtype=STRING),
    DatasetSpec("step", "", "identify, query or set", dtype=STRING),
    DatasetSpec("command", "", "command sent (or the property set)", dtype=STRING),
    DatasetSpec("status", "", "answered, error, timeout or skipped", dtype=STRING),
    DatasetSpec("need", "", "required, or optional (the driver copes without an answer)", dtype=STRING),
    DatasetSpec("reply", "", "raw reply, or the error-queue entry", dtype=STRING),
    DatasetSpec("seconds", "s", "time the exchange took"),
], signal="seconds", title="bench probe: one row per command")


@dataclass(frozen=True)
class ProbeResult:
    """What one command did on one instrument."""

    instrument: str
    step: str            # "identify", "query" or "set"
    command: str
    status: str          # one of STATUSES
    reply: str = ""
    seconds: float = 0.0
    optional: bool = False   # the driver asks it with ask_optional and copes without an answer


@dataclass
class ProbeRecord:
    """All results of a probe, with the instruments' identities (or why they could not be opened)."""

    results: list[ProbeResult] = field(default_factory=list)
    identities: dict[str, str] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)

    def unsupported(self, instrument: str) -> set[str]:
        """Queries of ``instrument`` that were not answered cleanly (timeout or an error entry)."""
        return {r.command for r in self.results
                if r.instrument == instrument and r.step == "query" and r.status in ("timeout", "error")}

    def unsupported_by_instrument(self) -> dict[str, set[str]]:
        """Instrument name -> its unsupported queries: what ``Bench(..., unsupported_queries=...)`` takes."""
        return {name: self.unsupported(name) for name in dict.fromkeys(r.instrument for r in self.results)}

    @property
    def passed(self) -> bool:
        """True when every instrument opened and every required command was answered (an optional
        query may go unanswered: its driver skips it, and the summary still names it)."""
        return not self.failures and all(r.status in ("answered", "skipped") or r.optional for r in self.results)

    def summary(self) -> str:
        """A readable report: per instrument, its identity, counts, and every command not answered."""
        lines = []
        names = list(dict.fromkeys([*self.identities, *self.failures, *(r.instrument for r in self.results)]))
        for name in names:
            if name in self.failures:
                lines.append(f"{name}: NOT OPENED - {self.failures[name]}")
                continue
            mine = [r for r in self.results if r.instrument == name]
            counts = {s: sum(r.status == s for r in mine) for s in STATUSES}
            shown = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
            lines.append(f"{name}: {self.identities.get(name, '?')} - {shown or 'nothing probed'}")
            for r in mine:
                if r.status in ("error", "timeout"):
                    detail = f": {r.reply}" if r.reply else ""
                    need = " (optional: the driver skips it)" if r.optional else ""
                    lines.append(f"    {r.status.upper():8s} {r.step} {r.command}{need}{detail}")
        verdict = ("PASSED: every required command answered" if self.passed
                   else "ATTENTION: required commands were not answered (see above)")
        return "\n".join([*lines, verdict])


# -- which commands a driver uses ------------------------------------------------------------------
def _owners(instrument: Instrument) -> Iterator[Any]:
    yield instrument
    yield from instrument.channels


def probe_queries(instrument: Instrument) -> dict[str, bool]:
    """Every query the driver sends, as it would send it (formatted for its slot and channels),
    mapped to whether it is optional (asked with ``ask_optional``: the driver copes without it).

    Compound query templates (``"SOUR1:VOLT:UNIT VPP;:SOUR1:VOLT?"``) contribute only their final
    query: the parts before it are settings, and the probe reads only. Drivers list queries used
    outside their properties in ``probe_extra_queries`` and ``optional_queries``.
    """
    seen: dict[str, bool] = {}
    for owner in _owners(instrument):
        for ctl in controls(type(owner)):
            if ctl.get_cmd is not None:
                seen[owner.format_command(ctl.get_cmd).split(";")[-1]] = ctl.optional_query
        for template in getattr(owner, "probe_extra_queries", ()):
            seen.setdefault(owner.format_command(template), False)
        for template in getattr(owner, "optional_queries", ()):
            seen[owner.format_command(template)] = True
    return seen


def _settable(instrument: Instrument) -> Iterator[tuple[Any, Control]]:
    for owner in _owners(instrument):
        for ctl in controls(type(owner)):
            if ctl.get_cmd is not None and ctl.set_cmd is not None:
                yield owner, ctl


# -- probing one instrument ------------------------------------------------------------------------
def _drain_errors(instrument: Instrument) -> list[str]:
    """The error-queue entries of a SCPI instrument (none for instruments without a queue)."""
    if not isinstance(instrument, SCPIInstrument):
        return []
    entries = []
    try:
        for _ in range(instrument.max_error_queue):
            code, message = instrument.next_error()
            if code == 0:
                break
            entries.append(f"{code},{message}")
    except QkdlabError as exc:  # the queue itself did not answer sensibly: say so for this command
        entries.append(f"error queue unreadable ({exc})")
    return entries


def _query(instrument: Instrument, name: str, command: str, timeout: float, optional: bool) -> ProbeResult:
    """Send one query straight to the transport (no retry, no reconnect) and classify the outcome."""
    transport = instrument.transport
    start = time.monotonic()
    with instrument.transaction():
        previous = transport.timeout
        transport.timeout = timeout
        try:
            reply = transport.query(command)
            status = "answered"
        except Timeout:
            transport.clear()
            reply, status = "", "timeout"
        except QkdlabError as exc:  # a lost link or undecodable reply: report it, go on with the rest
            reply, status = str(exc), "error"
        finally:
            transport.timeout = previous
        errors = _drain_errors(instrument)
    if errors:
        status = "error" if status == "answered" else status
        reply = "; ".join(errors) if not reply else f"{reply} (error queue: {'; '.join(errors)})"
    return ProbeResult(name, "query", command, status, reply, time.monotonic() - start, optional)


def _set_back(instrument: Instrument, name: str, owner: Any, ctl: Control) -> ProbeResult:
    """Read a setting through the driver and write the same value back (a set that changes nothing)."""
    command = f"{owner.name}.{ctl.name} (set back to its present value)"
    start = time.monotonic()
    if owner.format_command(ctl.get_cmd) in instrument.unsupported_queries:
        return ProbeResult(name, "set", command, "skipped", "its query is unsupported", 0.0)
    try:
        value = getattr(owner, ctl.name)
        setattr(owner, ctl.name, value)
        return ProbeResult(name, "set", command, "answered", str(value), time.monotonic() - start)
    except Timeout as exc:
        return ProbeResult(name, "set", command, "timeout", str(exc), time.monotonic() - start)
    except QkdlabError as exc:
        return ProbeResult(name, "set", command, "error", str(exc), time.monotonic() - start)


def probe_instrument(name: str, instrument: Any, *, allow_set: bool = False,
                     timeout: float = 2.0) -> tuple[str, list[ProbeResult]]:
    """Probe one open instrument: (identity text, results). Library drivers (no transport, e.g. the
    time tagger) are only identified: they have no command set to probe."""
    results: list[ProbeResult] = []
    start = time.monotonic()
    try:
        identity = str(instrument.identify())
        results.append(ProbeResult(name, "identify", "identify()", "answered", identity, time.monotonic() - start))
    except Timeout as exc:
        identity = "no identity"
        results.append(ProbeResult(name, "identify", "identify()", "timeout", str(exc), time.monotonic() - start))
    except QkdlabError as exc:
        identity = "no identity"
        results.append(ProbeResult(name, "identify", "identify()", "error", str(exc), time.monotonic() - start))
    if not isinstance(instrument, Instrument):
        return identity, results
    _drain_errors(instrument)  # start from an empty error queue
    for command, optional in probe_queries(instrument).items():
        result = _query(instrument, name, command, timeout, optional)
        if result.status == "timeout":
            instrument.unsupported_queries.add(command)
        results.append(result)
    if allow_set:
        results += [_set_back(instrument, name, owner, ctl) for owner, ctl in _settable(instrument)]
    return identity, results


# -- the whole bench -------------------------------------------------------------------------------
def probe_bench(bench: Any, out: str | Path | None = None, *, allow_set: bool = False,
                timeout: float = 2.0, progress: Any = None) -> ProbeRecord:
    """Open everything that will open, probe each instrument, and record the run in ``out``.

    Instruments that do not open are recorded with the reason; the probe goes on with the rest.
    """
    if not bench.instruments:
        bench.open(strict=False)
    record = ProbeRecord(failures=dict(bench.failures))
    for name, instrument in bench.instruments.items():
        if progress is not None:
            progress(name)
        identity, results = probe_instrument(name, instrument, allow_set=allow_set, timeout=timeout)
        record.identities[name] = identity
        record.results += results
    if out is not None:
        write_probe(record, out, bench, allow_set=allow_set)
    return record


def write_probe(record: ProbeRecord, out: str | Path, bench: Any, *, allow_set: bool = False) -> str:
    """Write the record as a run of kind ``probe``; return the run name."""
    config_text = yaml.safe_dump(bench.config.model_dump(mode="json"), sort_keys=False)
    instruments = {name: {"driver": bench.config.instruments[name].driver,
                          "resource": bench.config.instruments[name].resource,
                          "identity": record.identities.get(name, ""),
                          "settings": {"probe failure": record.failures[name]} if name in record.failures else {}}
                   for name in bench.config.instruments}
    parameters = {"allow_set": allow_set, "simulated": bool(bench.simulate), "summary": record.summary()}
    with Store(out).new_run(PROBE_KIND, [_GROUP], parameters=parameters, bench_config=config_text,
                            instruments=instruments, title="bench probe") as run:
        for r in record.results:
            run.append("commands", instrument=r.instrument, step=r.step, command=r.command, status=r.status,
                       need="optional" if r.optional else "required", reply=r.reply, seconds=r.seconds)
        run.finish("completed")
        return run.name


def read_probe(path: str | Path, run: str | int | None = None) -> ProbeRecord:
    """The probe record of a file (its last ``probe`` run unless ``run`` names one)."""
    store = Store(path)
    if run is None:
        probes = [s.name for s in store.runs() if s.kind == PROBE_KIND]
        if not probes:
            raise DataError(f"{path}: no probe run in this file; write one with 'qkdlab bench probe CONFIG --out {path}'")
        run = probes[-1]
    data = store.read(run)
    if data.kind != PROBE_KIND:
        raise DataError(f"{path}: run {data.name} is a {data.kind!r} run, not a probe")
    columns = data.groups["commands"]
    record = ProbeRecord()
    for i in range(len(columns["command"])):
        record.results.append(ProbeResult(*(str(columns[k][i]) for k in ("instrument", "step", "command", "status",
                                                                           "reply")),
                                          float(columns["seconds"][i].magnitude),
                                          str(columns["need"][i]) == "optional"))
    for name, info in data.instruments.items():
        if "probe failure" in info.get("settings", {}):
            record.failures[name] = info["settings"]["probe failure"]
        else:
            record.identities[name] = str(info.get("identity", ""))
    return record


