"""Source models in HDF5: a ``calibration_NNNN`` group next to the runs it was made from.

``load_source_model`` reads a model from either place it is kept: a JSON file or a run file.

The group holds the model's JSON (the same text as the JSON file, so both load back exactly) and
a few attributes for people browsing the file. Writing adds the group and touches nothing else.
"""

from __future__ import annotations

from pathlib import Path

import h5py

from ..errors import DataError
from ..model import SourceModel
from ..model import load_source_model as load_model_json
from ..store import STRING, Store

__all__ = ["write_model_to_hdf5", "read_model_from_hdf5", "load_source_model"]


def write_model_to_hdf5(path: str | Path, model: SourceModel) -> str:
    """Add the model as a new calibration group of the run file; returns the group's name."""
    with Store(path).open_for_addition() as handle:
        name = f"calibration_{len([k for k in handle if k.startswith('calibration_')]) + 1:04d}"
        group = handle.create_group(name)
        group.attrs.update({
            "NX_class": "NXcollection", "description": "qkdlab SourceModel (JSON in dataset source_model)",
            "schema_version": model.schema_version, "created": model.created, "epsilon": model.epsilon.total,
            "total_failure_probability": model.total_failure_probability, "partial": model.partial,
            "runs": [p.run for p in model.provenance]})
        group.create_dataset("source_model", data=model.to_json(), dtype=STRING)
    return name


def read_model_from_hdf5(path: str | Path, group: str | None = None) -> SourceModel:
    """The newest (or the named) calibration group's model."""
    try:
        with h5py.File(path, "r") as handle:
            names = sorted(k for k in handle if k.startswith("calibration_"))
            if not names:
                raise DataError(f"{path}: holds no calibration group; run `qkdlab calibrate {path}` first")
            name = group or names[-1]
            if name not in handle:
                raise DataError(f"{path}: no calibration group {name!r}; groups: {', '.join(names)}")
            text = handle[name]["source_model"][()]
    except OSError as exc:
        raise DataError(f"{path}: cannot read the calibration ({exc})") from None
    return SourceModel.from_json(text.decode() if isinstance(text, bytes) else str(text), f"{path}:{name}")


def load_source_model(path: str | Path) -> SourceModel:
    """Read a model from a JSON file, or from the newest calibration group of an HDF5 file."""
    path = Path(path)
    if path.is_file() and h5py.is_hdf5(path):
        return read_model_from_hdf5(path)
    return load_model_json(path)
