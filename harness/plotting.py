"""matplotlib for the `--plot FILE` options: the file type checked, the optional import
turned into an error that says how to install it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.errors import UsageError

SUFFIXES = (".png", ".svg")


def pyplot_for(path: Path) -> Any:
    """``matplotlib.pyplot`` (headless) for drawing into ``path``; UsageError if ``path`` is
    not a .png/.svg or matplotlib is not installed."""
    if path.suffix.lower() not in SUFFIXES:
        raise UsageError(f"--plot {path}: unknown image type {path.suffix!r}", "name a .png or .svg file")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError("--plot needs matplotlib, which is not installed",
                         "pip install 'harness[plot]'") from None
    return plt
