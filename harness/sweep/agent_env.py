"""The environment a sweep's workloads get: explicit, never the harness's own.

An agent used to inherit everything the harness had, API keys included. Now it gets
:data:`BASE_NAMES` (where set), the names given with ``--pass-env``, and the
``HARNESS_*`` variables of its trial. Records keep the names that went through, never
their values.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from harness.errors import UsageError

# What a shell, a compiler or a test runner needs to behave as on the command line.
BASE_NAMES: tuple[str, ...] = (
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE",
    "TZ", "TERM", "TMPDIR",
)
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def parse_pass_env(values: Iterable[str]) -> list[str]:
    """``--pass-env A,B --pass-env C`` → ``["A", "B", "C"]``; a bad name is a UsageError."""
    names: list[str] = []
    for value in values:
        for name in value.split(","):
            name = name.strip()
            if not _NAME_RE.match(name):
                raise UsageError(f"--pass-env {value!r}: {name!r} is not an environment variable name",
                                 "give names such as OPENAI_API_KEY, comma-separated or repeated")
            if name.startswith("HARNESS_"):
                raise UsageError(f"--pass-env {name}: HARNESS_* variables are set by the harness per trial",
                                 "pass another name")
            names.append(name)
    return list(dict.fromkeys(names))


def workload_env(source: Mapping[str, str], pass_env: Iterable[str],
                 harness_vars: Mapping[str, str]) -> dict[str, str]:
    """BASE_NAMES and ``pass_env`` taken from ``source`` where set, then ``harness_vars``."""
    env = {n: source[n] for n in (*BASE_NAMES, *pass_env) if n in source}
    env.update(harness_vars)
    return env


def passed_names(env: Mapping[str, str], harness_vars: Mapping[str, str]) -> list[str]:
    """The names of ``env`` that came from the harness's environment (for the record)."""
    return sorted(n for n in env if n not in harness_vars)
