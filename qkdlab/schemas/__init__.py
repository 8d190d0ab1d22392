"""JSON schemas of the files qkdlab writes, shipped with the package.

``source-model-v2.schema.json`` is the schema of a saved ``SourceModel`` (every written model
names it in ``$schema``); ``keyrate-result.schema.json`` that of a ``KeyRateResult``. They are
generated from the pydantic contracts in :mod:`qkdlab.model` (``generate``) and a test keeps the
shipped files equal to what the code generates.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

__all__ = ["SCHEMAS", "generate", "load_schema"]

#: Shipped file name -> the contract it describes.
SCHEMAS = {"source-model-v2.schema.json": "SourceModel", "keyrate-result.schema.json": "KeyRateResult"}


def generate(name: str) -> dict[str, Any]:
    """The JSON schema of a shipped file name, from the pydantic contract it describes."""
    from .. import model

    contract = getattr(model, SCHEMAS[name])
    schema = contract.model_json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"qkdlab/schemas/{name}"
    if contract is model.SourceModel:  # what to_json adds around the fields
        schema["properties"]["$schema"] = {"const": model.SOURCE_MODEL_SCHEMA,
                                           "description": "this schema (qkdlab/schemas/source-model-v2.schema.json)"}
        schema["properties"]["methods"] = {
            "type": "array", "items": {"type": "string"},
            "description": "method texts stored once; a 'method' field '@N' refers to entry N"}
    return schema


def load_schema(name: str) -> dict[str, Any]:
    """A shipped schema."""
    return json.loads(resources.files(__name__).joinpath(name).read_text(encoding="utf-8"))
