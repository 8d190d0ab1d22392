"""Key-rate figures for the faces: curves against distance, with the repeaterless (PLOB) bound.

Drawn only by the command line (``keyrate --plot``, the demo), so they live with it."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..analysis.keyrate import KeyRateCurve, plob_bound
from ..errors import DataError

__all__ = ["plot_key_rates"]

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
    ax.set_xlim(start, stop)
    finite = [c.key_rate_bps[c.key_rate_bps > 0] for c in curves.values()]
    floor = min((f.min() for f in finite if f.size), default=1.0)
    ax.set_ylim(max(floor / 3, 1e-4), None)
    try:
        fig.savefig(path, dpi=120)
    except OSError as exc:
        raise DataError(f"{path}: cannot write the figure ({exc.strerror or exc})") from None
