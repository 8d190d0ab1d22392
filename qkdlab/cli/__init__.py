"""The command line (a face: it calls the layers, nothing in the library imports it).

``qkdlab.cli.main`` is the click group behind the ``qkdlab`` command and ``python -m qkdlab.cli``.
"""

from .main import main

__all__ = ["main"]
