"""Resource profiles: limits as multiples of each task's declared spec, resolved per task.

Every profile guarantees the task's spec (``memory.low``, or ``memory.min`` where a sweep
file asks; CPU through ``cpu.weight`` from the declared CPUs) and sets the kill threshold
``memory.max`` at k × spec, or none for ``uncapped``. The article's six defaults are
``1x`` (guarantee = limit = spec), ``1.5x``, ``2x``, ``3x``, ``5x`` and ``uncapped``.

CPU: by default a profile's ``cpu.max`` is the same multiple of the declared CPUs as its
memory limit (the article scaled the whole spec), and ``uncapped`` has no ``cpu.max``.
``cpu_profiles`` gives an independent list instead; the sweep then runs the cross product,
named ``<memory>-cpu<cpu>`` (``2x-cpu1x``, ``uncapped-cpu-uncapped``). Swap is always 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import UsageError
from harness.limits import PROTECTIONS, LimitSettings, Protection, as_protection
from harness.schema.fields import kwargs
from harness.suite.task import SAFE_NAME_RE, TaskSpec
from harness.tomlfile import read_toml
from harness.units import is_unlimited, parse_cpu_amount, parse_memory_amount, parse_multiple

DEFAULT_PROFILE_NAMES: tuple[str, ...] = ("1x", "1.5x", "2x", "3x", "5x", "uncapped")
UNCAPPED = "uncapped"


@dataclass(frozen=True)
class Profile:
    """Multiples of a task's spec. ``memory_multiplier``/``cpu_multiplier`` None = no limit."""

    name: str
    memory_multiplier: float | None
    cpu_multiplier: float | None
    guarantee_multiplier: float = 1.0  # of the declared memory; 0 = no guarantee
    protection: Protection = "low"
    memory_high_multiplier: float | None = None
    timeout_multiplier: float | None = 1.0  # of the task's agent timeout; None = no timeout

    def __post_init__(self) -> None:
        problems = profile_problems(self.name, self.memory_multiplier, self.cpu_multiplier,
                                    self.guarantee_multiplier, self.protection, self.memory_high_multiplier)
        t = self.timeout_multiplier
        if t is not None and not (math.isfinite(t) and t > 0):
            problems.append(f"timeout: {t!r} is not a positive multiple")
        if problems:
            raise UsageError(f"profile {self.name!r}: {'; '.join(problems)}",
                             "correct the profile's multiples")

    def resolve(self, task: TaskSpec) -> LimitSettings:
        """Absolute limits for ``task``; bytes round up, so 1x is exactly the spec. Swap is 0."""
        mem = task.memory_bytes
        return LimitSettings(
            declared_memory_bytes=mem, declared_cpus=task.cpus,
            memory_guarantee_bytes=_times(self.guarantee_multiplier, mem) or 0,
            memory_max_bytes=_times(self.memory_multiplier, mem),
            memory_high_bytes=_times(self.memory_high_multiplier, mem),
            protection=self.protection, swap_max_bytes=0,
            cpu_max_cpus=None if self.cpu_multiplier is None else self.cpu_multiplier * task.cpus,
        )

    def agent_timeout(self, task: TaskSpec) -> float | None:
        """The task's agent timeout scaled by this profile; None: no timeout."""
        t = self.timeout_multiplier
        return None if t is None else t * task.agent_timeout_sec

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "memory_multiplier": self.memory_multiplier,
                "cpu_multiplier": self.cpu_multiplier, "guarantee_multiplier": self.guarantee_multiplier,
                "protection": self.protection, "memory_high_multiplier": self.memory_high_multiplier,
                "timeout_multiplier": self.timeout_multiplier}

    @classmethod
    def from_json(cls, doc: Any, where: str) -> Profile:
        args = kwargs(cls, doc, where)
        try:
            return cls(**args)
        except UsageError as e:
            raise UsageError(f"{where}: {e.message}", e.fix) from None


def profile_problems(name: str, memory: float | None, cpu: float | None, guarantee: float,
                     protection: str, memory_high: float | None) -> list[str]:
    """What is wrong with these profile fields, one phrase each; empty when nothing."""
    out = []
    if not isinstance(name, str) or not SAFE_NAME_RE.match(name):
        out.append(f"name {name!r} has characters outside [A-Za-z0-9._-]")
    if protection not in PROTECTIONS:
        out.append(f"protection: {protection!r} is neither 'low' nor 'min'")
    for what, v in (("memory", memory), ("cpu", cpu), ("memory_high", memory_high)):
        if v is not None and not (math.isfinite(v) and v > 0):
            out.append(f"{what}: {v!r} is not a positive multiple")
    if not (math.isfinite(guarantee) and guarantee >= 0):
        out.append(f"guarantee: {guarantee!r} is not a multiple of 0 or more")
    elif memory is not None and guarantee > memory:
        out.append(f"guarantee {guarantee:g}x is above the memory limit {memory:g}x")
    if memory_high is not None and memory is not None and memory_high > memory:
        out.append(f"memory_high {memory_high:g}x is above the memory limit {memory:g}x")
    return out


def _times(mult: float | None, value: int) -> int | None:
    if mult is None:
        return None
    product = mult * value
    if not math.isfinite(product):  # 1e308x of a spec: the kernel check in LimitSettings says why
        raise UsageError(f"{mult:g}x of {value} bytes is beyond any size", "give a smaller multiple")
    return math.ceil(product)


def multiple_name(mult: float | None) -> str:
    """1.5 → ``1.5x``; None → ``uncapped``."""
    return UNCAPPED if mult is None else f"{mult:g}x"


def parse_multiple_token(text: str, what: str, kind: str = "memory") -> float | None:
    """``3x``/``1.5x`` → 3.0/1.5; ``uncapped``/``max`` → None. Absolute sizes are refused."""
    token = str(text).strip()
    if is_unlimited(token):
        return None
    if kind == "timeout":  # a multiple of the task's agent timeout, never seconds
        mult = parse_multiple(token)
        if mult is None or not (math.isfinite(mult) and mult > 0):
            raise UsageError(f"{what}: {token!r} is not a positive multiple of the task's agent timeout",
                             "write e.g. 0.5x, 2x or none")
        return mult
    amount = parse_memory_amount(token, what) if kind == "memory" else parse_cpu_amount(token, what)
    if amount.multiple is None:
        raise UsageError(f"{what}: {token!r} is not a multiple of the task's spec",
                         "profiles scale each task's declared spec: write e.g. 1x, 1.5x, 3x or uncapped")
    return amount.multiple


def combined_name(memory: float | None, cpu: float | None) -> str:
    """``2x-cpu1x``, ``uncapped-cpu-uncapped``: a profile whose CPU multiple is its own."""
    return f"{multiple_name(memory)}-cpu{'-' if cpu is None else ''}{multiple_name(cpu)}"


def default_profiles() -> tuple[Profile, ...]:
    """The article's six: 1x, 1.5x, 2x, 3x, 5x, uncapped (CPU follows memory)."""
    return parse_profiles()


def parse_profiles(memory: str | None = None, cpu: str | None = None,
                   timeout: str | None = None) -> tuple[Profile, ...]:
    """Profiles from ``--profiles`` (memory multiples), ``--cpu-profiles`` and ``--timeout-profiles``.

    Without ``cpu``, each profile's CPU limit is its memory multiple; with it, the cross
    product. The guarantee is the spec, or the limit where the limit is below the spec.
    ``timeout`` (multiples of the agent timeout, or ``none``) is crossed with the rest,
    its name part ``-t<multiple>`` (``1x-t0.5x``, ``1x-tnone``).
    """
    mems = _tokens(memory if memory is not None else ",".join(DEFAULT_PROFILE_NAMES), "--profiles", "memory")
    cpus = None if cpu is None else _tokens(cpu, "--cpu-profiles", "cpu")
    times = [1.0] if timeout is None else _tokens(timeout, "--timeout-profiles", "timeout")
    out = []
    for m in mems:
        guarantee = 1.0 if m is None else min(1.0, m)
        for c in ([m] if cpus is None else cpus):
            for t in times:
                name = multiple_name(m) if cpus is None else combined_name(m, c)
                if timeout is not None:
                    name += f"-t{timeout_name(t)}"
                out.append(Profile(name, m, c, guarantee, timeout_multiplier=t))
    return tuple(out)


def timeout_name(mult: float | None) -> str:
    """0.5 → ``0.5x``; None → ``none`` (no timeout)."""
    return "none" if mult is None else f"{mult:g}x"


def _tokens(text: str, flag: str, kind: str) -> list[float | None]:
    words = [w.strip() for w in text.split(",")]
    if not any(words):
        raise UsageError(f"{flag} is empty", f"give multiples, e.g. {flag} 1x,3x,uncapped")
    values = [parse_multiple_token(w, f"{flag} {w!r}", kind) for w in words if w]
    seen: set[float | None] = set()
    for w, v in zip((w for w in words if w), values, strict=True):
        if v in seen:
            raise UsageError(f"{flag}: {w!r} repeats a multiple given before", "list each multiple once")
        seen.add(v)
    return values


_TOP_KEYS = ("profile", "repeats", "seed", "concurrency", "description")
_PROFILE_KEYS = ("name", "memory", "cpu", "guarantee", "protection", "memory_high", "timeout")


@dataclass(frozen=True)
class SweepFile:
    """A sweep file: its profiles, and defaults for flags the command line did not give."""

    path: Path
    profiles: tuple[Profile, ...]
    repeats: int | None = None
    seed: int | None = None
    concurrency: int | None = None


def load_sweep_file(path: Path) -> SweepFile:
    """Read a TOML sweep file; raises one UsageError naming every bad profile and field.

    Top level: optional ``repeats``, ``seed``, ``concurrency``, ``description``; then
    ``[[profile]]`` tables with ``memory`` (``"3x"`` or ``"max"``, required), ``cpu``
    (default: as memory), ``guarantee`` (default ``"1x"``, at most the limit; ``"0x"`` or
    ``"none"`` for none), ``protection`` (``"low"``/``"min"``), ``memory_high`` and
    ``name`` (default: the memory multiple, or ``<memory>-cpu<cpu>`` when cpu differs);
    ``timeout`` scales the task's agent timeout (``"0.5x"``, ``"2x"``, ``"none"``; default
    1x, and a ``-t<timeout>`` suffix on the default name when given).
    """
    path = Path(path)
    data = read_toml(path, "sweep file", "give the path of a TOML sweep file", "correct the sweep file")
    problems: list[str] = []
    for key in data:
        if key not in _TOP_KEYS:
            problems.append(f"{path}: unknown field {key!r} (known: {', '.join(_TOP_KEYS)})")
    ints = {k: _positive_int(data, k, path, problems, minimum=0 if k == "seed" else 1)
            for k in ("repeats", "seed", "concurrency")}
    tables = data.get("profile", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        problems.append(f"{path}: profile must be [[profile]] tables")
        tables = []
    if not tables and not problems:
        problems.append(f"{path}: no [[profile]] tables")
    profiles: list[Profile] = []
    for i, table in enumerate(tables, 1):
        where = f"{path}: profile #{i}" + (f" ({table['name']!r})" if "name" in table else "")
        profile = _profile(table, where, problems)
        if profile is not None:
            profiles.append(profile)
    seen: set[str] = set()
    for p in profiles:
        if p.name in seen:
            problems.append(f"{path}: profile name {p.name!r} is used twice")
        seen.add(p.name)
    if problems:
        raise UsageError(f"sweep file {path}: {len(problems)} problem(s)\n"
                         + "\n".join(f"  - {p}" for p in problems),
                         "correct the fields named above")
    return SweepFile(path, tuple(profiles), ints["repeats"], ints["seed"], ints["concurrency"])


def _positive_int(data: dict[str, Any], key: str, path: Path, problems: list[str],
                  minimum: int) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        problems.append(f"{path}: {key}: {value!r} is not a whole number of at least {minimum}")
        return None
    return value


def _profile(table: dict[str, Any], where: str, problems: list[str]) -> Profile | None:
    before = len(problems)
    for key in table:
        if key not in _PROFILE_KEYS:
            problems.append(f"{where}: unknown field {key!r} (known: {', '.join(_PROFILE_KEYS)})")

    def multiple(key: str, kind: str) -> float | None:
        value = table[key]
        if not isinstance(value, str):
            problems.append(f'{where}: {key}: {value!r} must be a string such as "3x" or "max"')
            return None
        if key == "guarantee" and value.strip().lower() in ("none", "0", "0x"):
            return 0.0
        try:
            return parse_multiple_token(value, key, kind)
        except UsageError as e:
            problems.append(f"{where}: {key}: {e.message}")
            return None

    if "memory" not in table:
        problems.append(f'{where}: memory: missing (write e.g. memory = "3x" or "max")')
    mem = multiple("memory", "memory") if "memory" in table else None
    cpu = multiple("cpu", "cpu") if "cpu" in table else mem
    high = multiple("memory_high", "memory") if "memory_high" in table else None
    timeout = multiple("timeout", "timeout") if "timeout" in table else 1.0
    if "guarantee" in table:
        guarantee = multiple("guarantee", "memory")
        if guarantee is None and len(problems) == before:
            problems.append(f'{where}: guarantee: write a multiple ("1x") or "none", not uncapped')
    else:
        guarantee = 1.0 if mem is None else min(1.0, mem)
    name = table.get("name")
    if name is None:
        name = multiple_name(mem) if cpu == mem else combined_name(mem, cpu)
        if "timeout" in table:
            name += f"-t{timeout_name(timeout)}"
    if len(problems) > before or guarantee is None:
        return None
    protection = table.get("protection", "low")
    wrong = profile_problems(name, mem, cpu, guarantee, protection, high)
    problems.extend(f"{where}: {w}" for w in wrong)
    if wrong:
        return None
    return Profile(name, mem, cpu, guarantee, as_protection(protection), high, timeout)
