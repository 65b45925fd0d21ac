"""Reading a TOML input file the user named, with errors that say which file and the fix."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from harness.errors import UsageError


def read_toml(path: Path, what: str, fix_unreadable: str, fix_invalid: str) -> dict[str, Any]:
    """The parsed file; UsageError naming ``path`` when it cannot be read or is not TOML."""
    try:
        return tomllib.loads(Path(path).read_text())
    except OSError as e:
        raise UsageError(f"{path}: cannot read the {what}: {e.strerror}", fix_unreadable) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise UsageError(f"{path}: not valid TOML: {e}", fix_invalid) from None
