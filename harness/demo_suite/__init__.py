"""The built-in demo suite (see README.md here): tasks whose outcomes the kernel decides."""

from __future__ import annotations

from pathlib import Path


def demo_suite_path() -> Path:
    """The directory of the demo suite, as installed with the package."""
    return Path(__file__).resolve().parent
