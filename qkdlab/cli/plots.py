"""Key-rate figures for the faces: curves against distance, with the repeaterless (PLOB) bound.

Drawn only by the command line (``keyrate --plot``, the demo), so they live with it."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..analysis.keyrate import KeyRateCurve, plob_bound
from ..errors import DataError

__all__ = ["plot_key_rates", "plot_mismatch"]

_STYLE = {"ltqc": "-", "gllp": "--", "rt": "-.", "lt": ":"}


def plot_key_rates(curves: Mapping[str, KeyRateCurve], path: str, *, title: str, fiber_loss_db_per_km: float,
                   repetition_rate_hz: float, xlabel: str = "distance (km)", link_factor: float = 1.0) -> None:
    """Secret-key rate (bit/s, log scale) of each labelled curve, and PLOB at the same repetition rate.

    ``link_factor``: the Alice-Bob distance per unit of the x axis (2 for MDI plotted against the
    Alice-Charlie distance), so that PLOB is drawn for the whole channel.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 5.5), layout="constrained")
    ax = fig.add_subplot()
    distances = np.concatenate([c.distance_km for c in curves.values()])
    start, stop = np.nanmin(distances), np.nanmax(distances)
    grid = np.linspace(max(start, min(1.0, stop)), stop, 400)   # PLOB diverges at 0 km
    ax.semilogy(grid, repetition_rate_hz * plob_bound(link_factor * grid, fiber_loss_db_per_km), color="0.5", lw=1.0,
                label="PLOB bound (repeaterless)")
    for label, curve in curves.items():
        rate = curve.key_rate_bps
        positive = rate > 0
        method = label.split()[0]
        ax.semilogy(curve.distance_km[positive], rate[positive], _STYLE.get(method, "-"), lw=1.8, label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("secret-key rate (bit/s)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=9)
    # The x range is set by the secure curves (a curve labelled "not secure" is a reference only),
    # and the y range by the top nine decades: a throttled curve's tail must not squash the rest.
    secure = [c for label, c in curves.items() if "not secure" not in label] or list(curves.values())
    reach = max((c.distance_km[c.key_rate_bps > 0].max() for c in secure if np.any(c.key_rate_bps > 0)),
                default=stop)
    ax.set_xlim(start, min(stop, start + 1.15 * (reach - start)) if reach > start else stop)
    finite = [c.key_rate_bps[c.key_rate_bps > 0] for c in curves.values()]
    peak = max((f.max() for f in finite if f.size), default=1.0)
    floor = min((f.min() for f in finite if f.size), default=1.0)
    ax.set_ylim(max(floor, peak * 1e-9) / 3, peak * 3)
    try:
        fig.savefig(path, dpi=120)
    except OSError as exc:
        raise DataError(f"{path}: cannot write the figure ({exc.strerror or exc})") from None


def plot_mismatch(rows: list[dict], path: str) -> None:
    """Key rate per round against η2 (or transmission when η2 is fixed), like Figs. 6-8 of Zhang et
    al., PRR 3, 013076: certified rate (clipped at 0) and, dashed, the step-1 value minus leakage."""
    from matplotlib.figure import Figure

    etas = sorted({r["eta2"] for r in rows})
    axis, label = ("eta2", "η2 (detector V/A, mode 1)") if len(etas) > 1 else ("transmission", "transmission t")
    fig = Figure(figsize=(7, 5), layout="constrained")
    ax = fig.add_subplot()
    x = np.array([r[axis] for r in rows])
    order = np.argsort(x)
    ax.plot(x[order], np.array([r["key_rate_per_round"] for r in rows])[order], "o-", ms=3, label="certified K")
    ax.plot(x[order], np.array([max(r["step1_value"] - r["leakage"], 0.0) for r in rows])[order], "--", lw=1,
            label="step-1 value − leak")
    first = rows[0]
    ax.set_xlabel(label)
    ax.set_ylabel("key rate per round (bits)")
    ax.set_title(f"{first['receiver']} receiver, {first['modes']} mode(s), {first['photon_bound']}", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=9)
    try:
        fig.savefig(path, dpi=120)
    except OSError as exc:
        raise DataError(f"{path}: cannot write the figure ({exc.strerror or exc})") from None
