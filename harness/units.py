"""Parsing of sizes (``512M``), CPU counts and limits relative to a declared spec (``3x``)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from harness.errors import UsageError

# Binary multiples throughout, as Docker and Kubernetes' "Mi"/"Gi" do: "2G" is 2 GiB.
_SIZE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b?)\s*$", re.IGNORECASE)
_MULTIPLE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*x\s*$", re.IGNORECASE)
# The words for "no limit", wherever a limit is given (flags, profiles, sweep files).
UNLIMITED_WORDS: tuple[str, ...] = ("max", "none", "unlimited", "uncapped")


def is_unlimited(text: str) -> bool:
    return str(text).strip().lower() in UNLIMITED_WORDS


def parse_size(text: str | int, what: str = "size") -> int:
    """Bytes from ``"512M"``, ``"2G"``, ``"1.5GiB"``, ``"1048576"`` or an int."""
    if isinstance(text, int) and not isinstance(text, bool):
        value = text
    else:
        m = _SIZE_RE.match(str(text))
        if not m:
            raise UsageError(
                f"{what}: {text!r} is not a size",
                "write bytes or a number with K, M, G or T (binary: 2G = 2 GiB), e.g. 512M",
            )
        value = int(float(m.group(1)) * _SIZE_UNITS[m.group(2).lower()])
    if value <= 0:
        raise UsageError(f"{what}: {text!r} must be more than 0 bytes", "give a positive size")
    return value


def format_size(n: int | None) -> str:
    """``268435456`` → ``"256M"``: the shortest exact binary form, else MiB with decimals."""
    if n is None:
        return "max"
    for unit, factor in (("T", 1 << 40), ("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if n >= factor and n % factor == 0:
            return f"{n // factor}{unit}"
    if n >= 1 << 20:
        return f"{n / (1 << 20):.1f}M"
    return str(n)


@dataclass(frozen=True)
class Amount:
    """A limit as the user wrote it: absolute, a multiple of the declared spec, or unlimited."""

    absolute: float | None = None
    multiple: float | None = None

    @property
    def unlimited(self) -> bool:
        return self.absolute is None and self.multiple is None

    def resolve(self, declared: float | None) -> float | None:
        """The value for a declared spec; ``None`` means no limit ("max")."""
        if self.absolute is not None:
            return self.absolute
        if self.multiple is None:
            return None
        if declared is None:
            raise UsageError(
                f"a limit of {self.multiple:g}x needs a declared amount to multiply",
                "also give the declared amount (--memory SIZE or --cpus N), or an absolute limit",
            )
        return self.multiple * declared

    def __str__(self) -> str:
        if self.multiple is not None:
            return f"{self.multiple:g}x"
        return "max" if self.absolute is None else f"{self.absolute:g}"


def parse_multiple(text: str) -> float | None:
    """``"3x"`` → 3.0; anything else → None."""
    m = _MULTIPLE_RE.match(text)
    return float(m.group(1)) if m else None


def parse_memory_amount(text: str, what: str) -> Amount:
    """``max``, ``3x``/``1.5x`` (of the declared memory), a size, or ``0`` (none: no guarantee)."""
    if str(text).strip() == "0":
        return Amount(absolute=0.0)
    return _parse_amount(text, what, lambda t: float(parse_size(t, what)))


def parse_cpu_amount(text: str, what: str) -> Amount:
    """``max``, ``3x`` (of the declared CPUs) or a CPU count such as ``1.5``."""
    return _parse_amount(text, what, lambda t: parse_cpus(t, what))


def _parse_amount(text: str, what: str, absolute: Callable[[str], float]) -> Amount:
    text = str(text).strip()
    if is_unlimited(text):
        return Amount()
    mult = parse_multiple(text)
    if mult is not None:
        _check_multiple(mult, what, text)
        return Amount(multiple=mult)
    return Amount(absolute=absolute(text))


def parse_cpus(text: str | float, what: str = "cpus") -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise UsageError(f"{what}: {text!r} is not a CPU count",
                         "write a number such as 1, 2 or 0.5") from None
    if not math.isfinite(value) or value <= 0:
        raise UsageError(f"{what}: {text!r} must be a positive number of CPUs", "write e.g. 1 or 0.5")
    return value


def _check_multiple(mult: float, what: str, text: str) -> None:
    if not math.isfinite(mult) or mult <= 0:
        raise UsageError(f"{what}: {text!r} must be a positive multiple", "write e.g. 1x, 1.5x or 3x")
