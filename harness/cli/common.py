"""What every subcommand shares: error reporting, JSON output, messages on stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import click

from harness.errors import HarnessError


def say(message: str) -> None:
    """Talk to the user: stderr, never stdout."""
    click.echo(message, err=True)


def fail(error: HarnessError | str, status: int) -> NoReturn:
    say(f"harness: error: {error}")
    sys.exit(status)


@contextmanager
def errors_exit(status: int) -> Iterator[None]:
    """Turn a HarnessError into a message on stderr and exit ``status``."""
    try:
        yield
    except HarnessError as e:
        fail(e, status)


def print_json(doc: Any) -> None:
    click.echo(json.dumps(doc, indent=2, sort_keys=False, default=_json_default))


def _json_default(obj: Any) -> Any:
    for attr in ("to_json", "to_dict", "tolist", "item"):
        fn: Callable[[], Any] | None = getattr(obj, attr, None)
        if fn is not None:
            return fn()
    raise TypeError(f"cannot serialise {type(obj).__name__}")
