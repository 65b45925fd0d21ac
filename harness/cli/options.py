"""Options shared by the commands that run trials."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from harness.backends.choose import BACKENDS


def backend_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option("--cgroup-root", type=click.Path(path_type=Path), default=None,
                      help="Work below this cgroup-v2 directory instead of finding one.")(fn)
    fn = click.option("--backend", type=click.Choice(BACKENDS), default="auto", show_default=True,
                      help="native: this host's cgroup v2; uml: a user-mode Linux guest; "
                           "auto: native where `harness doctor` passes, else uml.")(fn)
    return fn
