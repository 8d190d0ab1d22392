"""HDF5 runs -> SourceModel parts with conservative statistical bounds (issue 4)."""
