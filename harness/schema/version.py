"""Schema versions: every file the harness writes says which one it follows, and a reader
refuses a version it does not know rather than misread it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.errors import ResultsError

SCHEMA_KEY = "schema"

Upgrade = Callable[[dict[str, Any]], dict[str, Any]]


def check_version(doc: dict[str, Any], where: str, what: str, current: int,
                  upgrades: dict[int, Upgrade] | None = None) -> dict[str, Any]:
    """``doc`` at version ``current``: as it is, or upgraded from an older version this
    harness knows; a ResultsError (exit 2) naming ``where`` and both versions otherwise."""
    upgrades = upgrades or {}
    found = doc.get(SCHEMA_KEY)
    if found == current and not isinstance(found, bool):
        return doc
    if isinstance(found, int) and not isinstance(found, bool) and found in upgrades:
        return check_version(upgrades[found](doc), where, what, current, upgrades)
    readable = ", ".join(str(v) for v in sorted({current, *upgrades}))
    newer = isinstance(found, int) and not isinstance(found, bool) and found > current
    raise ResultsError(
        f"{where}: {what} schema version {found!r}; this harness reads version {readable}",
        "read it with the newer harness that wrote it" if newer else
        "the file was not written by `harness`, or was edited; restore it")
