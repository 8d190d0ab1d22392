"""The standard figure of a sweep study (``qkdlab plot study.h5``).

Panels: the key rate against distance with one curve per value of another axis; a heat map of
the rate over distance and that axis; with ``optimise:``, each optimised parameter against
distance (drawn only where the point has key: beyond the cut-off an optimum means nothing). Axes
beyond the first two are held at their first value, and the title says so. Without a distance
axis the first axis takes its place.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["plot_study"]


def _label(ds, name: str) -> str:
    units = ds[name].attrs.get("units", "")
    return f"{name} ({units})" if units else name


def plot_study(path: str | Path, output: str | Path) -> str:
    """Draw the study at ``path`` into ``output``; returns a one-line description of what was drawn."""
    from matplotlib.figure import Figure

    from ..sweep import open_study, read_spec

    spec = read_spec(path)
    ds = open_study(path)
    axes = list(spec.axes)
    x = "distance" if "distance" in axes else axes[0]
    others = [a for a in axes if a != x]
    by = others[0] if others else None
    held = {a: ds[a].values[0] for a in others[1:]}
    view = ds.isel({a: 0 for a in others[1:]})
    rate = view.key_rate_bps.where(view.key_rate_bps > 0)
    optimised = list(spec.optimise.parameters) if spec.optimise else []
    panels = 1 + (by is not None) + bool(optimised)
    fig = Figure(figsize=(6.2 * panels, 4.8), layout="constrained")
    grid = fig.subplots(1, panels, squeeze=False)[0]
    curves = [(None, rate)] if by is None else [(v, rate.isel({by: i})) for i, v in enumerate(view[by].values)]

    ax = grid[0]
    for value, curve in curves:
        label = None if value is None else f"{by} = {value:g}" if isinstance(value, float) else f"{by} = {value}"
        ax.semilogy(view[x].values, curve.transpose(x).values, marker=".", label=label)
    ax.set_xlabel(_label(ds, x))
    ax.set_ylabel("secure key rate (bit/s)")
    ax.grid(True, which="both", alpha=0.3)
    if by is not None:
        ax.legend(fontsize="small")
        heat = grid[1]
        values = np.log10(rate.transpose(by, x).values)
        labels = [f"{v:g}" if isinstance(v, float) else str(v) for v in view[by].values]
        mesh = heat.pcolormesh(view[x].values, np.arange(len(labels)), np.ma.masked_invalid(values),
                               shading="nearest", cmap="viridis")
        heat.set_yticks(np.arange(len(labels)), labels)
        heat.set_xlabel(_label(ds, x))
        heat.set_ylabel(_label(ds, by))
        fig.colorbar(mesh, ax=heat, label="log10 key rate (bit/s); blank: no key or failed")
    if optimised:
        opt = grid[-1]
        for name in optimised:
            values = view[f"optimal_{name}"].where(view.key_rate_bps > 0)
            series = [values] if by is None else [values.isel({by: 0})]
            for s in series:
                opt.plot(view[x].values, s.transpose(x).values, marker=".", label=name)
        opt.set_xlabel(_label(ds, x))
        opt.set_ylabel("optimised value")
        opt.set_yscale("log")
        opt.grid(True, which="both", alpha=0.3)
        first = "" if by is None else f" ({by} = {view[by].values[0]})"
        opt.set_title(f"optimised parameters{first}", fontsize="medium")
        opt.legend(fontsize="small")
    done = int((ds.status == 1).sum())
    held_text = "" if not held else "; " + ", ".join(f"{k} = {v}" for k, v in held.items())
    fig.suptitle(f"{spec.name} ({done}/{spec.size} points{held_text})", fontsize="medium")
    fig.savefig(output, dpi=110)
    return f"sweep study '{spec.name}' ({done}/{spec.size} points done)"
