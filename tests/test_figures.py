"""Every figure qkdlab draws is readable: a label with a unit on every axis, no internal names.

A reader of a figure in a lab notebook or a paper has only the figure: "rate" without a unit, or
a dataset name such as ``null_pulsed``, tells them nothing.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from matplotlib.figure import Figure

from qkdlab.scans import SCANS, scan_module
from qkdlab.store import Store

UNIT = re.compile(r"\((?:[^()]*[A-Za-zµΩ%°/]|1)[^()]*\)")  # "(mW)", "(bit/s)", "(%)", "(index)"
INTERNAL = re.compile(r"\b[a-z]+_[a-z_]+\b")                 # snake_case names from the code


def _check(fig: Figure, what: str) -> None:
    bars = [ax for ax in fig.axes if hasattr(ax, "_colorbar")]   # a colour bar carries one label, on its long side
    for bar in bars:
        assert bar.get_ylabel() or bar.get_xlabel(), f"{what}: a colour bar without a label"
    axes = [ax for ax in fig.axes if ax.has_data() and ax not in bars]
    assert axes, f"{what}: nothing drawn"
    for ax in axes:
        shared_x = not ax.get_xlabel() and any(o is not ax and o.get_xlabel() for o in ax.get_shared_x_axes()
                                               .get_siblings(ax))
        for axis, label in (("x", ax.get_xlabel()), ("y", ax.get_ylabel())):
            if axis == "x" and shared_x:
                continue  # a stacked panel: the bottom panel carries the shared x label
            assert label, f"{what}: an axis without a {axis} label ({ax.get_title()!r})"
            ticks = ax.get_xticklabels() if axis == "x" else ax.get_yticklabels()
            categorical = any(t.get_text() and not _numeric(t.get_text()) for t in ticks)
            assert categorical or UNIT.search(label), f"{what}: {axis} label {label!r} has no unit"
        texts = [ax.get_xlabel(), ax.get_ylabel(), ax.get_title(),
                 *(t.get_text() for t in ax.get_xticklabels() + ax.get_yticklabels())]
        legend = ax.get_legend()
        if legend is not None:
            texts += [t.get_text() for t in legend.get_texts()]
        for text in texts:
            assert not INTERNAL.search(text), f"{what}: internal name in {text!r}"


def _numeric(text: str) -> bool:
    try:
        float(text.replace("−", "-").replace("$", "").replace("\\mathdefault{", "").replace("}", ""))
        return True
    except ValueError:
        return False


@pytest.mark.parametrize("kind", list(SCANS))
def test_every_scan_figure_is_labelled(bench_file, kind) -> None:
    store = Store(bench_file)
    run = next(store.read(r.name) for r in store.runs() if r.kind == kind)
    fig = Figure(figsize=(11, 5.5), layout="constrained")
    scan_module(kind).plot(run, fig)
    _check(fig, kind)


def test_the_key_rate_figure_is_labelled_and_scaled_by_the_secure_curves(tmp_path, monkeypatch) -> None:
    import matplotlib.figure

    from qkdlab.analysis import AnalysisSource, Channel, key_rate
    from qkdlab.cli.plots import plot_key_rates

    drawn: list[Figure] = []
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", lambda self, *a, **k: drawn.append(self))
    source = AnalysisSource.flawed("bb84", 0.063, 1e-6)
    distances = np.arange(0.0, 300.0, 5.0)
    curves = {"ltqc": key_rate(source, Channel(), "ltqc", distance_km=distances),
              "rt": key_rate(source, Channel(), "rt", distance_km=distances),
              "lt (ε = 0: qubit flaws only, not secure here)": key_rate(
                  AnalysisSource.flawed("bb84", 0.063, 0.0), Channel(), "lt", distance_km=distances)}
    plot_key_rates(curves, str(tmp_path / "k.png"), title="t", fiber_loss_db_per_km=0.2, repetition_rate_hz=2.5e9)
    [fig] = drawn
    _check(fig, "key-rate figure")
    ax = fig.axes[0]
    secure_reach = curves["ltqc"].max_distance()
    assert ax.get_xlim()[1] <= 1.15 * secure_reach + 1e-9  # not the insecure LT curve's reach
    peak = curves["ltqc"].key_rate_bps.max()
    assert ax.get_ylim()[0] >= peak * 1e-9 / 3 * (1 - 1e-9)  # RT's tail does not set the floor


def test_the_live_history_is_labelled(tmp_path, monkeypatch) -> None:
    import matplotlib.figure

    from qkdlab.examples import flawed_source_model
    from qkdlab.live import LiveEstimator, SimulatedLink, run_session

    drawn: list[Figure] = []
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", lambda self, *a, **k: drawn.append(self))
    model = flawed_source_model(epsilon=1e-7)
    link = SimulatedLink(model, distance_km=10.0, block_emissions=1e9, seed=2)
    run_session(LiveEstimator(model), (link.next_block() for _ in range(3)), title="t",
                log_path=tmp_path / "l.csv", png_path=tmp_path / "l.png", show=False)
    [fig] = drawn
    _check(fig, "live history")
    labels = [ax.get_ylabel() for ax in fig.axes]
    assert "QBER (%)" in labels and "phase-error bound (%)" in labels  # one axis each


def test_the_sweep_study_figure_is_labelled(tmp_path) -> None:
    from qkdlab.cli.study_plots import draw_study
    from qkdlab.sweep import parse_spec
    from qkdlab.sweep.evaluate import evaluate_chunk
    from qkdlab.sweep.study import StudyFile

    spec = parse_spec({"name": "figure test", "fixed": {"signal": 0.5},
                       "axes": {"epsilon": [0.0, 1e-6], "distance": [0.0, 40.0], "fiber_loss": [0.2, 0.25]},
                       "optimise": {"parameters": {"signal": [0.1, 0.9], "basis_prob": [0.5, 0.9]}, "starts": 1,
                                    "max_iterations": 1}})
    with StudyFile.open(tmp_path / "s.h5", spec) as study:
        study.write(evaluate_chunk(spec.canonical(), list(range(spec.size))))
    fig = Figure(figsize=(19, 4.8), layout="constrained")
    draw_study(tmp_path / "s.h5", fig)
    _check(fig, "sweep study")
