"""Packaged bench configurations (read with importlib.resources)."""
