"""``python -m qkdlab.cli``: the ``qkdlab`` command."""

from .main import main

main()
