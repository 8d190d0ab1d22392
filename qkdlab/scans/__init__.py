"""Characterization procedures (Bench + Store -> one HDF5 run each).

Filled by issue 3; the package exists so that the layout of ARCHITECTURE.md is importable.
"""
