"""The verifier's verdict as Harbor reads it: ``reward.txt``, else ``reward.json``."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Reward:
    value: float | None  # None: no reward file (the verifier's exit status decides)
    source: str | None  # "reward.txt" | "reward.json" | None
    error: str | None = None  # a reward file that says nothing usable: no verdict


def read_reward(directory: Path) -> Reward:
    txt, js = directory / "reward.txt", directory / "reward.json"
    if txt.is_file() and not txt.is_symlink():
        text = txt.read_text(errors="replace").strip()
        try:
            value = float(text)
        except ValueError:
            return Reward(None, "reward.txt", f"reward.txt holds {text[:40]!r}, not a number")
        return _checked(value, "reward.txt")
    if js.is_file() and not js.is_symlink():
        try:
            doc = json.loads(js.read_text(errors="replace"))
        except json.JSONDecodeError as e:
            return Reward(None, "reward.json", f"reward.json is not JSON: {e}")
        if isinstance(doc, dict) and "reward" in doc:
            doc = doc["reward"]
        elif isinstance(doc, dict) and len(doc) == 1:
            doc = next(iter(doc.values()))
        if isinstance(doc, bool) or not isinstance(doc, (int, float)):
            return Reward(None, "reward.json", "reward.json has no single number (nor a \"reward\" key)")
        return _checked(float(doc), "reward.json")
    return Reward(None, None)


def _checked(value: float, source: str) -> Reward:
    if not math.isfinite(value):
        return Reward(None, source, f"{source} holds {value}, not a finite number")
    return Reward(value, source)
