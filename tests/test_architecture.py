"""The house rules of ARCHITECTURE.md as a test: layers import downward only, and no import circles.

The import graph is built by grimp from the source (type-only imports included: a circle through
type hints is still a circle for a reader and for static tools). Each component below may import
only the components it lists; the ground floor (the ``qkdlab`` package itself, units, errors,
interrupts, plugins) may be imported by everyone. Failing here means an import runs back up a
layer: move the shared helper down (e.g. into ``qkdlab.transmitter``) instead of widening a rule.
"""

from __future__ import annotations

import subprocess
import sys

import grimp
import pytest

GROUND = {"qkdlab", "units", "errors", "interrupts", "plugins", "yamlfile"}
CONTRACTS = {"model", "transmitter"}
#: Component -> the components it may import (besides the ground floor and itself).
ALLOWED: dict[str, set[str]] = {
    "units": set(), "errors": set(), "interrupts": set(), "plugins": {"errors"}, "yamlfile": {"errors"},
    "model": set(), "transmitter": set(), "examples": CONTRACTS, "schemas": {"model"},
    "drivers": set(),
    "testing": {"drivers"},
    "config": {"drivers", "sim"},
    "store": {"model"},
    "sim": {"drivers", "transmitter", "model"},
    "bench": {"config", "drivers", "sim", "store", "model"},
    "probe": {"drivers", "store"},
    "scans": {"bench", "store", "drivers", "config"} | CONTRACTS,
    "calibration": {"store"} | CONTRACTS,
    "analysis": set(CONTRACTS),
    "live": {"analysis", "calibration", "store", "sim"} | CONTRACTS,
    "sweep": {"analysis", "calibration", "store"} | CONTRACTS,
    "dashboard": {"live", "analysis", "calibration", "store"} | CONTRACTS,
    "cli": {"analysis", "bench", "calibration", "config", "dashboard", "drivers", "examples", "live", "probe", "scans",
            "sim",
            "store", "sweep", "testing"} | CONTRACTS,
    "configs": set(),
}


def _component(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "qkdlab"


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("qkdlab", include_external_packages=False)


def test_every_component_has_a_rule(graph) -> None:
    components = {_component(m) for m in graph.modules} - {"qkdlab"}
    assert components <= set(ALLOWED), f"components without an import rule: {sorted(components - set(ALLOWED))}"


def test_layers_import_downward_only(graph) -> None:
    violations = []
    for importer in sorted(graph.modules):
        source = _component(importer)
        for imported in graph.find_modules_directly_imported_by(importer):
            target = _component(imported)
            if target == source or target in GROUND:
                continue
            if target not in ALLOWED.get(source, set()):
                violations.append(f"{importer} -> {imported}")
    assert not violations, "imports that run against the layers:\n" + "\n".join(violations)


def test_no_import_circles(graph) -> None:
    # Tarjan's strongly connected components over the module graph; every component of more than
    # one module (or a module importing itself) is a circle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []
    counter = [0]
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))

    def visit(module: str) -> None:
        index[module] = low[module] = counter[0]
        counter[0] += 1
        stack.append(module)
        on_stack.add(module)
        for nxt in graph.find_modules_directly_imported_by(module):
            if nxt not in index:
                visit(nxt)
                low[module] = min(low[module], low[nxt])
            elif nxt in on_stack:
                low[module] = min(low[module], index[nxt])
        if low[module] == index[module]:
            members = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                members.append(top)
                if top == module:
                    break
            if len(members) > 1:
                circles.append(sorted(members))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    assert not circles, "import circles:\n" + "\n".join(" <-> ".join(c) for c in circles)


def test_importing_calibration_loads_no_driver_or_scan() -> None:
    code = ("import sys, qkdlab.calibration, qkdlab.calibration.calibrate; "
            "print(sorted(m for m in sys.modules if m.startswith(('qkdlab.drivers', 'qkdlab.scans', 'qkdlab.bench'))))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]", f"importing qkdlab.calibration loaded {loaded}"


def test_the_command_line_starts_without_the_numerical_stack() -> None:
    code = ("import sys, qkdlab.cli; "
            "print(sorted(m for m in ('numpy', 'pint', 'scipy', 'cvxpy', 'h5py', 'matplotlib') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]", f"`qkdlab --help` would import {loaded}"
