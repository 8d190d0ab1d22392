"""qkdlab: drive a QKD transmitter bench, characterize its flaws, and compute secure key rates.

The layers (see ARCHITECTURE.md) are importable separately: ``qkdlab.drivers`` (instruments),
``qkdlab.sim`` (the simulated bench), ``qkdlab.config`` and ``qkdlab.bench`` (bench configuration).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("qkdlab")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
