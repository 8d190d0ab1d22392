"""YAML files a person writes (bench configs, sweep specs): read once, every problem as one line.

Shared by :mod:`qkdlab.config` and :mod:`qkdlab.sweep` so that a missing file, a folder, a binary
file, broken YAML or a key pydantic refuses read the same way whichever file it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .errors import ConfigError

__all__ = ["read_yaml", "describe_validation"]


def read_yaml(path: str | Path, what: str) -> Any:
    """The parsed YAML of ``path``; ``ConfigError`` naming the file and the problem otherwise."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: {what} file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory; give the {what} YAML file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file (not UTF-8); give the {what} YAML file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the {what} ({exc.strerror})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None


def describe_validation(exc: ValidationError, what: str) -> str:
    """pydantic's errors as ``key.path: what is wrong`` items, joined by "; "."""
    problems = []
    for error in exc.errors():
        location = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = f"unknown key (check its spelling against the documented {what} keys)"
        elif error["type"] == "missing":
            message = "required key is missing"
        problems.append(f"{location or '<top level>'}: {message}")
    return "; ".join(problems)
