"""HDF5 runs -> SourceModel parts with conservative statistical bounds.

A calibration reads runs; it never runs them (no scans, drivers or bench are imported here).
``load_source_model`` reads a model from its JSON file or from a run file's calibration group.
"""

from .persist import load_source_model, read_model_from_hdf5, write_model_to_hdf5

__all__ = ["load_source_model", "read_model_from_hdf5", "write_model_to_hdf5"]
