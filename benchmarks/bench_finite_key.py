"""The setting of Fig. 3 of the framework paper: finite-key LTQC rates for block sizes N = 1e8 … 1e14.

BB84, ε = 1e-6, δ = 0.063, ε_cor = ε_sec = 1e-10, N from 1e8 to 1e14, single photons over the
paper's link (f = 1.16, p_d = 1e-8, η_d = 0.73, 0.2 dB/km, 2.5 GHz), for each concentration
inequality (Kato, Chernoff, Azuma), against distance, with the asymptotic rate at the same pz as
the N → ∞ curve. Prints the reach per N and the time per inequality and writes one figure per
inequality to docs/img/
(``--no-figures`` to skip). ``--pz`` sets the key-basis probability (default 0.5, as everywhere;
the paper's finite-key figure needs pz < 1, try 0.9).

    PYTHONPATH=. python benchmarks/bench_finite_key.py [--pz 0.5] [--no-figures]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from qkdlab.analysis import AnalysisSource, Channel, FiniteKey, KeyRateCurve, key_rate
from qkdlab.analysis.concentration import CONCENTRATIONS

DISTANCES_KM = np.linspace(0.0, 300.0, 121)
BLOCKS = (1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14)
FIGURES = Path(__file__).resolve().parent.parent / "docs" / "img"


def curves(source: AnalysisSource, pz: float, concentration: str) -> tuple[list[KeyRateCurve], float]:
    """One curve against distance per block size, and the seconds they took."""
    start = time.perf_counter()
    result = [key_rate(source, Channel(), "ltqc", FiniteKey(n, 1e-10, 1e-10, concentration),
                       distance_km=DISTANCES_KM, pz=pz) for n in BLOCKS]
    return result, time.perf_counter() - start  # type: ignore[return-value]


def figure(finite: list[KeyRateCurve], asymptotic: KeyRateCurve, concentration: str, pz: float, path: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.8), layout="constrained")
    ax = fig.add_subplot()
    for i, (n, curve) in enumerate(zip(BLOCKS, finite)):
        positive = curve.key_rate_bps > 0
        ax.semilogy(curve.distance_km[positive], curve.key_rate_bps[positive], "-", color=f"C{i}", lw=1.5,
                    label=f"N = 1e{int(round(np.log10(n)))}")
    positive = asymptotic.key_rate_bps > 0
    ax.semilogy(asymptotic.distance_km[positive], asymptotic.key_rate_bps[positive], "k:", lw=1.5, label="N → ∞")
    ax.set_xlabel("distance (km)")
    ax.set_ylabel("secret-key rate (bit/s at 2.5 GHz)")
    ax.set_title(f"LTQC, BB84, ε = 1e-6, δ = 0.063, ε_sec = ε_cor = 1e-10, pz = {pz:g}: {concentration}",
                 fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pz", type=float, default=0.5)
    parser.add_argument("--no-figures", action="store_true")
    args = parser.parse_args()
    source = AnalysisSource.flawed("bb84", 0.063, 1e-6)
    asymptotic = key_rate(source, Channel(), "ltqc", distance_km=DISTANCES_KM, pz=args.pz)
    print(f"pz = {args.pz}; asymptotic maximum distance {asymptotic.max_distance():g} km "
          f"(grid step {DISTANCES_KM[1] - DISTANCES_KM[0]:g} km)")
    for concentration in CONCENTRATIONS:
        finite, seconds = curves(source, args.pz, concentration)
        points = len(BLOCKS) * len(DISTANCES_KM)
        reach = ", ".join(f"1e{int(round(np.log10(n)))}: {c.max_distance():g}" for n, c in zip(BLOCKS, finite))
        at = DISTANCES_KM == 100.0
        at_100 = [c.key_rate_per_pulse[at][0] / asymptotic.key_rate_per_pulse[at][0] for c in finite]
        print(f"{concentration:9s} {points} points in {seconds:.1f} s; max distance (km) by N: {reach}")
        print(f"{'':9s} rate at 100 km / asymptote by N: " + ", ".join(f"{r:.3f}" for r in at_100))
        if not args.no_figures:
            path = FIGURES / f"finite-key-{concentration}.png"
            figure(finite, asymptotic, concentration, args.pz, path)
            print(f"{'':9s} figure: {path}")


if __name__ == "__main__":
    main()
