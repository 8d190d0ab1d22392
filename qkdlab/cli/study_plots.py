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

__all__ = ["plot_study", "draw_study"]

#: How a parameter is named on a figure: words and symbol, and the unit (a reader has only the figure).
LABELS = {
    "distance": ("distance", "km"), "fiber_loss": ("fiber loss", "dB/km"), "delta": ("qubit flaw δ", "rad"),
    "epsilon": ("side-channel bound ε", "1 − fidelity"), "finite": ("block size N", "pulses"),
    "rep_rate": ("repetition rate", "Hz"), "signal": ("signal intensity μ", "photons/pulse"),
    "decoy": ("decoy intensity ν", "photons/pulse"), "p_signal": ("signal probability", "fraction"),
    "p_decoy": ("decoy probability", "fraction"), "basis_prob": ("Z-basis probability p_Z", "fraction"),
    "detector_efficiency": ("detector efficiency", "fraction"),
    "dark_count_prob": ("dark-count probability", "per pulse"), "misalignment": ("misalignment", "fraction"),
    "ec_efficiency": ("error-correction inefficiency f", "≥ 1"), "eps_sec": ("secrecy ε_sec", "probability"),
    "eps_cor": ("correctness ε_cor", "probability"),
}


def _words(name: str) -> str:
    return LABELS.get(name, (name.replace("_", " "), ""))[0]


def _label(name: str) -> str:
    words, unit = LABELS.get(name, (name.replace("_", " "), ""))
    return f"{words} ({unit})" if unit else words


def _value(name: str, value) -> str:
    text = f"{value:g}" if isinstance(value, (float, np.floating)) else str(value)
    return f"{_words(name)} = {text}"


def plot_study(path: str | Path, output: str | Path) -> str:
    """Draw the study at ``path`` into the image ``output``; returns a one-line description."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(19, 4.8), layout="constrained")
    text = draw_study(path, fig)
    fig.savefig(output, dpi=110)
    return text


def draw_study(path: str | Path, fig) -> str:
    """The standard panels of the study at ``path``, drawn into the matplotlib ``fig``."""
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
    grid = fig.subplots(1, panels, squeeze=False)[0]
    curves = [(None, rate)] if by is None else [(v, rate.isel({by: i})) for i, v in enumerate(view[by].values)]

    ax = grid[0]
    for value, curve in curves:
        ax.semilogy(view[x].values, curve.transpose(x).values, marker=".",
                    label=None if value is None else _value(by, value))
    ax.set_xlabel(_label(x))
    ax.set_ylabel("secure key rate (bit/s)")
    ax.grid(True, which="both", alpha=0.3)
    if by is not None:
        ax.legend(fontsize="small")
        heat = grid[1]
        values = np.log10(rate.transpose(by, x).values)
        labels = [f"{v:g}" if isinstance(v, (float, np.floating)) else str(v) for v in view[by].values]
        mesh = heat.pcolormesh(view[x].values, np.arange(len(labels)), np.ma.masked_invalid(values),
                               shading="nearest", cmap="viridis")
        heat.set_yticks(np.arange(len(labels)), labels)
        heat.set_xlabel(_label(x))
        heat.set_ylabel(_label(by))
        fig.colorbar(mesh, ax=heat, label="log10 of the key rate in bit/s (blank: no key or failed)")
    if optimised:
        opt = grid[-1]
        first = view if by is None else view.isel({by: 0})
        for name in optimised:
            values = first[f"optimal_{name}"].where(first.key_rate_bps > 0)
            opt.plot(view[x].values, values.transpose(x).values, marker=".", label=_words(name))
        opt.set_xlabel(_label(x))
        opt.set_ylabel("optimum (photons/pulse or probability)")
        opt.set_yscale("log")
        opt.grid(True, which="both", alpha=0.3)
        where = "" if by is None else f", {_value(by, view[by].values[0])}"
        opt.set_title(f"optimised protocol parameters{where}", fontsize="medium")
        opt.legend(fontsize="small")
    done = int((ds.status == 1).sum())
    held_text = "" if not held else "; " + ", ".join(_value(k, v) for k, v in held.items())
    fig.suptitle(f"{spec.name} ({done}/{spec.size} points{held_text})", fontsize="medium")
    return f"sweep study '{spec.name}' ({done}/{spec.size} points done)"
