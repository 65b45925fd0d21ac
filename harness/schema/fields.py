"""Building frozen dataclasses from JSON objects: the known fields, a clear error for a
missing one, unknown ones ignored (a reader of version N skips what it does not use)."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from harness.errors import ResultsError

T = TypeVar("T")


def names(cls: type[Any]) -> tuple[str, ...]:
    """The JSON keys of a schema dataclass, in declaration order."""
    return tuple(f.name for f in dataclasses.fields(cls))


def required(cls: type[Any]) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls)
                 if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)


def kwargs(cls: type[Any], doc: Any, where: str) -> dict[str, Any]:
    """The fields of ``cls`` found in ``doc``; a ResultsError naming ``where`` for a missing one."""
    if not isinstance(doc, dict):
        raise ResultsError(f"{where}: must be a JSON object, not {type(doc).__name__}",
                           "restore the file as `harness` wrote it")
    missing = [k for k in required(cls) if k not in doc]
    if missing:
        raise ResultsError(f"{where}: lacks {', '.join(missing)}",
                           "restore the file as `harness` wrote it")
    return {k: doc[k] for k in names(cls) if k in doc}
