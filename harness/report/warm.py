"""Write a big finished sweep's report cache when the sweep ends, not at its first report.

Kept apart from `harness.report.load` so that deciding costs no numpy import: below the
threshold (most sweeps) nothing else is imported.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

from harness.errors import HarnessError
from harness.results.store import TRIALS_FILE

# About 35,000 records: from here a finished sweep writes the report's columnar copy itself.
INDEX_BYTES = 64 << 20


def index_for_report(out_dir: Path, min_bytes: int = INDEX_BYTES,
                     note: Callable[[str], None] | None = None) -> bool:
    """Parse a big finished sweep's records once, now, so that its first `harness report` reads
    the columnar copy (a million records: seconds, not a parse of every line). Below
    ``min_bytes`` the parse is quick anyway and the sweep does not pay numpy's import. A
    record the parse refuses is left for the report to name. ``note`` is told before the
    parse starts. True when a copy was written."""
    files = [p for p in (out_dir / TRIALS_FILE, *sorted(out_dir.glob(f"*/{TRIALS_FILE}"))) if p.is_file()]
    size = sum(p.stat().st_size for p in files)
    if not files or size < min_bytes:
        return False
    from harness.report.load import columns

    if note is not None:
        note(f"harness: indexing {size / 2**20:.0f} MiB of trial records for the report")
    wrote = False
    for path in files:
        with contextlib.suppress(HarnessError, OSError):
            wrote = bool(columns(path).task) or wrote
    return wrote
