"""``qkdlab demo``: the whole job on the simulated bench, from instruments to live key estimates.

Scans (all seven) → HDF5 → calibration → SourceModel → key-rate curves (LTQC, GLLP, and LT for the
qubit flaws alone) → a short live run on a simulated link, printing what was found and where the
files are. ``run_demo`` is the job (tests call it); ``demo_command`` is its face.

The demo's transmitter is the built-in simulated bench with a 40 dB extinction ratio, a
low-memory phase-modulator driver and a low-chirp one (1 MHz/V instead of 5 MHz/V: the
mode-dependence scan then measures 1 - F ~ 1e-4) (``ENGINEERED``): the default simulated bench is deliberately
leaky (28 dB, strong pulse memory) to exercise the calibration, and its side channels leave no
key with decoy states — ``leaky=True`` shows that.
"""

from __future__ import annotations

import math
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.table import Table

from .console import RichProgress, console, err_console, progress_columns, section, sigterm_as_interrupt

if TYPE_CHECKING:
    from ..analysis import KeyRateCurve
    from ..model import SourceModel

__all__ = ["ENGINEERED", "DemoResult", "run_demo", "DEMO_DISTANCES", "demo_command"]

#: Simulation overrides of the demo's transmitter (see the module docstring).
ENGINEERED = {"im_extinction_ratio_db": 40.0, "pm_memory": [0.002, 0.0005], "mode_chirp_hz_per_v": 1e6}
#: Distances (km) at which the demo prints key rates.
DEMO_DISTANCES = (0.0, 10.0, 25.0, 50.0, 100.0)


@dataclass
class DemoResult:
    model: SourceModel
    curves: dict[str, KeyRateCurve]
    files: dict[str, Path] = field(default_factory=dict)
    live: Any = None


def run_demo(out_dir: str | Path, *, console: Console = console, progress: Any = None, leaky: bool = False, seed: int = 2026,
             live_blocks: int = 8, live_interval_s: float = 0.3, show_live: bool = True) -> DemoResult:
    """Run the demo into ``out_dir`` (created; files already there are kept, new runs are appended)."""
    from ..bench import Bench
    from ..calibration.calibrate import calibrate_file
    from ..calibration.persist import write_model_to_hdf5
    from ..live import LiveEstimator, SimulatedLink, paced, run_session
    from ..scans import SCANS, run_scan
    from ..store import Store
    from .plots import plot_key_rates

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {"runs (HDF5)": out / "bench.h5", "source model": out / "source-model.json",
             "key-rate curves": out / "key-rates.png", "live log": out / "live-log.csv",
             "live history": out / "live-history.png"}
    store = Store(files["runs (HDF5)"])
    section("1. characterization scans on the simulated bench")
    with Bench.simulated(seed, **({} if leaky else ENGINEERED)).open() as bench:
        statuses = bench.check()
        console.print(f"{sum(1 for s in statuses if s.ok)} of {len(statuses)} instruments answer "
                      f"({', '.join(s.name for s in statuses)})", highlight=False)
        for kind in SCANS:
            summary = run_scan(kind, bench, store, progress=progress)
            console.print(f"  {kind}: {summary.name} {summary.status}, {summary.points} points", highlight=False)

    section("2. calibration → SourceModel")
    model = calibrate_file(files["runs (HDF5)"])
    model.save(files["source model"])
    write_model_to_hdf5(files["runs (HDF5)"], model)
    console.print(_findings(model))

    section("3. key rates (single photons, f = 1.16, p_d = 1e-8, η_d = 0.73, 2.5 GHz, 0.2 dB/km)")
    curves = key_rate_curves(model)
    console.print(_rate_table(curves))
    plot_key_rates(curves, str(files["key-rate curves"]), title=f"calibrated {model.protocol} source, "
                   f"ε = {model.epsilon.total:.3g}", fiber_loss_db_per_km=0.2, repetition_rate_hz=2.5e9)

    for line in (mismatch_line(model), decoy_mismatch_line(model)):
        if line:
            console.print(line, highlight=False)

    section("4. live finite-key estimates on a simulated 10 km link (decoy states, 1e9 pulses per block)")
    link = SimulatedLink(model, distance_km=10.0, block_emissions=1e9, seed=seed)
    estimator = LiveEstimator(model, "best")
    live = run_session(estimator, paced(link, live_blocks, live_interval_s), title="demo link, 10 km",
                       log_path=files["live log"], png_path=files["live history"], console=console, show=show_live)
    section("files")
    for label, path in files.items():
        console.print(f"  {label:16s} {path}", highlight=False)
    return DemoResult(model, curves, files, live)


def key_rate_curves(model: SourceModel) -> dict[str, KeyRateCurve]:
    """Best of the methods (winner named), LTQC and GLLP for the calibrated source, and LT for its qubit flaws
    alone (ε = 0, not a secure rate)."""
    import numpy as np

    from ..analysis import AnalysisSource, Channel, key_rate

    distances = np.arange(0.0, 200.5, 2.5)
    channel = Channel()
    source = AnalysisSource.from_model(model)
    curves = {"best": key_rate(source, channel, "best", distance_km=distances),
              "ltqc": key_rate(source, channel, "ltqc", distance_km=distances)}
    if model.protocol == "bb84":
        curves["gllp"] = key_rate(source, channel, "gllp", distance_km=distances)
    flaws_only = AnalysisSource(source.states, source.phase_halfwidths, 0.0, source.correlation_length,
                                "qubit flaws only")
    curves["lt (ε = 0: qubit flaws only, not secure here)"] = key_rate(flaws_only, channel, "lt",
                                                                         distance_km=distances)
    return curves  # type: ignore[return-value]


def mismatch_line(model: SourceModel) -> str | None:
    """The receiver's calibrated mismatch on the efficiency-mismatch paper's channel (Zhang et al.,
    PRR 3, 013076, Sec. IV A: ω = 0.05, r = 0.05, t = 0.5; the light meets the point estimates at the
    operating delay): the certified key rate per round over the whole confidence box (the emulation
    hull of :mod:`qkdlab.analysis.mismatch.hull`, flag-state squasher above two photons), and what it
    costs against matched detectors (both at their mean point estimate)."""
    if model.detectors is None:
        return None
    import numpy as np

    from ..analysis.mismatch import Receiver, mismatch_key_rate, simulate_statistics
    from ..analysis.mismatch.hull import calibrated_hull
    from ..errors import QkdlabError

    try:
        hull = calibrated_hull(model.detectors)
        mean = float(hull.point.mean())
        link, matched = Receiver("active", hull.point[:, None]), Receiver("active", np.array([[mean], [mean]]))
        worst = mismatch_key_rate(Receiver("active", hull.analysis_table), simulate_statistics(link, 0.05, 0.05, 0.5),
                                  "squasher", minima=hull.minima, sectors=True)
        best = mismatch_key_rate(matched, simulate_statistics(matched, 0.05, 0.05, 0.5), "squasher")
    except QkdlabError as exc:
        return f"detector mismatch over the calibration's confidence box: no mismatch-aware rate — {exc}"
    return (f"detector mismatch (worst case over the confidence box: {hull.table.shape[1]} hull modes of "
            f"{hull.delays_used} delays, squasher; paper's toy channel ω = 0.05, r = 0.05, t = 0.5): "
            f"{worst.key_rate:.4g} bit/round certified (gap {worst.gap:.0e}) vs {best.key_rate:.4g} with matched "
            f"detectors — {_cost(worst.key_rate, best.key_rate)}")


def decoy_mismatch_line(model: SourceModel, distance_km: float = 25.0) -> str | None:
    """The bench's own link with its measured mismatch: decoy-state BB84 (0.5, 0.1, 0 with
    probabilities 0.8, 0.1, 0.1) over ``distance_km`` of 0.2 dB/km fiber, p_d = 1e-8, misalignment
    1 %, f_EC = 1.16, 2.5 GHz, active receiver. The light meets the point estimates at the operating
    delay; the rate is the worst case over the calibration's confidence box (the doubled emulation
    hull, docs/mismatch-calibrated.md), and its cost is against matched detectors (both at the mean
    point estimate) under the same flag-state squasher (the matched link could also use the BB84
    squashing map; its rate is shown too)."""
    if model.detectors is None:
        return None
    import numpy as np

    from ..analysis.mismatch import Receiver, decoy_mismatch_key_rate, simulate_decoy_statistics
    from ..analysis.mismatch.hull import calibrated_hull
    from ..errors import QkdlabError

    t = 10 ** (-0.2 * distance_km / 10)

    def stats(receiver: Receiver):
        return simulate_decoy_statistics(receiver, (0.5, 0.1, 0.0), t, misalignment=0.01, dark_count_probability=1e-8,
                                         intensity_probabilities=(0.8, 0.1, 0.1), repetition_rate_hz=2.5e9)

    try:
        hull = calibrated_hull(model.detectors)
        matched = Receiver("active", np.full((2, 1), float(hull.point.mean())), "fine")
        measured = decoy_mismatch_key_rate(Receiver("active", hull.analysis_table, "fine"),
                                           stats(Receiver("active", hull.point[:, None], "fine")), "squasher",
                                           f_ec=1.16, minima=hull.minima, sectors=True)
        same, squashed = (decoy_mismatch_key_rate(matched, stats(matched), bound, f_ec=1.16)
                          for bound in ("squasher", "auto"))
    except QkdlabError as exc:
        return f"decoy link with the measured mismatch (worst case over the confidence box): no mismatch-aware rate — {exc}"
    flag = "" if measured.certified else f" ({measured.status}: {measured.reason})"
    return (f"decoy link, {distance_km:g} km, measured mismatch (worst case over the confidence box: "
            f"{hull.table.shape[1]} hull modes of {hull.delays_used} delays; η at the operating delay "
            f"{hull.point[0]:.3g}, {hull.point[1]:.3g}): {measured.key_rate_bps:.4g} bit/s certified{flag} vs "
            f"{same.key_rate_bps:.4g} with matched detectors (same squasher; {squashed.key_rate_bps:.4g} with the "
            f"BB84 squashing map) — {_cost(measured.key_rate_bps, same.key_rate_bps)}")


def _cost(mismatched: float, matched: float) -> str:
    """What the mismatch costs, said in words when there is nothing to compare against."""
    if matched <= 0:
        return "no key with matched detectors either: the channel, not the mismatch, leaves no key"
    return f"the mismatch costs {1 - mismatched / matched:.0%}"


def _findings(model: SourceModel) -> Table:
    table = Table(title="what the calibration found", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    if model.leakage is not None and model.leakage.extinction_ratio_db is not None:
        er = model.leakage.extinction_ratio_db
        table.add_row("extinction ratio", f"{er.value:.1f} dB (≥ {er.lower:.1f} dB)")
    if model.isolation is not None:
        gamma = model.isolation
        table.add_row("back-reflection isolation", f"{-10 * math.log10(gamma.value):.1f} dB "
                                                   f"(γ ≤ {gamma.upper:.3g})")
    if model.delta is not None:
        table.add_row("qubit flaw δ", f"{model.delta.value:.4f} rad [{model.delta.lower:.4f}, {model.delta.upper:.4f}]")
    table.add_row("side-channel bound ε", f"{model.epsilon.total:.3g}")
    for part in model.epsilon.parts:
        table.add_row(f"  ε {part.name}", f"{part.upper:.3g} ({part.inventory}, {part.degree_of_freedom})")
    if model.correlations is not None:
        table.add_row("correlation length l_c", str(model.correlations.length))
    return table


def _rate_table(curves: dict[str, KeyRateCurve]) -> Table:
    import numpy as np

    table = Table(title="secret-key rate (bit/s)")
    table.add_column("distance (km)", justify="right")
    for name in curves:
        table.add_column(name, justify="right")
    first = next(iter(curves.values()))
    for distance in DEMO_DISTANCES:
        i = int(np.argmin(np.abs(first.distance_km - distance)))
        table.add_row(f"{distance:g}", *[_cell(c[i]) for c in curves.values()])
    table.add_row("max distance", *[f"{c.max_distance():g} km" for c in curves.values()])
    return table


def _cell(result) -> str:
    """Rate in bit/s; for the best-of-methods curve, with the method that won."""
    text = f"{result.key_rate_bps:.3g}" if result.key_rate_bps > 0 else "0"
    return f"{text} ({result.parameters['winner']})" if result.method == "best" else text


@click.command("demo")
@click.option("--out", "out_dir", default="qkdlab-demo", show_default=True, type=click.Path(file_okay=False),
              help="Directory for the HDF5 runs, the source model, the figures and the live log.")
@click.option("--leaky", is_flag=True, help="Use the default (leaky) simulated transmitter: no key survives.")
@click.option("--live-blocks", default=8, show_default=True, type=click.IntRange(min=1), help="Blocks of the live run.")
def demo_command(out_dir: str, leaky: bool, live_blocks: int) -> None:
    """Run the whole job on the simulated bench: scans, calibration, key rates, a live run."""
    from rich.progress import Progress

    previous = sigterm_as_interrupt()
    try:
        with Progress(*progress_columns(), console=console, transient=True) as bar:
            progress = RichProgress(bar)
            result = run_demo(Path(out_dir), console=console, progress=progress, leaky=leaky, live_blocks=live_blocks)
    except KeyboardInterrupt:
        err_console.print(f"[yellow]demo interrupted; what was written is in {out_dir}[/]")
        sys.exit(130)
    finally:
        signal.signal(signal.SIGTERM, previous)
    if result.live is not None and result.live.interrupted:
        sys.exit(130)
