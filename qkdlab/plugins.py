"""Name -> class tables whose classes are imported on first use.

Drivers and emulators are looked up by the names used in bench configs; importing lazily means a
missing optional vendor library only matters for the one class that needs it.
"""

from __future__ import annotations

import importlib

__all__ = ["resolve"]


def resolve(table: dict[str, str], name: str, package: str, what: str) -> type:
    """Import and return the class that ``table[name]`` ("module:Class" below ``package``) names.

    An unknown name raises ``KeyError`` that lists the known ones.
    """
    try:
        target = table[name]
    except KeyError:
        raise KeyError(f"unknown {what} {name!r}; known: {sorted(table)}") from None
    module, cls = target.split(":")
    return getattr(importlib.import_module(f"{package}.{module}"), cls)
