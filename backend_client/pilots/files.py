"""Plans on disk: listing, decoding with clear errors, loading with checks, saving."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from backend_client.pilots.checks import check
from backend_client.pilots.model import DEFAULT_DIR, Plan, PlanError, Problem

# ---------------------------------------------------------------- loading


def available(directory: Path | None = None) -> list[str]:
    """Names of the plan files in `directory` (file stems), sorted."""
    return sorted(p.stem for p in (directory or DEFAULT_DIR).glob("*.toml"))


def find(given: Path, directory: Path | None = None) -> Path:
    """A plan file, or the name of a shipped plan (`preston-2017`): installed, the shipped
    plans are inside the bundle, so the name is what an operator can type."""
    if given.exists() or given.suffix or len(given.parts) != 1:
        return given
    named = (directory or DEFAULT_DIR) / f"{given}.toml"
    return named if str(given) in available(directory) else given


def decode(data: bytes | str, *, source: str = "plan") -> Plan:
    """The plan in `data` (TOML), field types checked; PlanError names the field if not."""
    try:
        return msgspec.toml.decode(data, type=Plan)
    except msgspec.ValidationError as exc:
        raise PlanError(source, [field_problem(exc)]) from None
    except msgspec.DecodeError as exc:
        raise PlanError(source, [Problem("", f"not valid TOML ({exc})")]) from None


def load(path: Path, scenario_dir: Path | None = None) -> Plan:
    """Read, decode and check the plan at `path`; PlanError lists every problem."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PlanError(str(path), [Problem("", f"cannot be read ({exc.strerror})")]) from None
    plan = decode(data, source=str(path))
    problems = check(plan, scenario_dir)
    if (misnamed := name_problem(plan, path)) is not None:
        problems.insert(0, misnamed)
    if problems:
        raise PlanError(str(path), problems)
    return plan


def field_problem(
    error: msgspec.ValidationError, then: str = "fix that field and load the plan again"
) -> Problem:
    """A field that does not fit the format (msgspec's error), in an inspector's words:
    which field (`days[0].start`), what is wrong with it, and `then` what to do."""
    text = str(error)
    match = re.search(r"at `\$\.?(?P<path>[^`]*)`", text)
    body = re.sub(r"\s*-\s*at `\$[^`]*`", "", text)
    if "matching regex" in body:
        body = "must be lower-case letters, digits, '-' or '_', starting with a letter or digit"
    elif "of length >= 1" in body:
        body = "cannot be empty"
    return Problem(match["path"] if match else "", f"{body}; {then}")


def name_problem(plan: Plan, path: Path) -> Problem | None:
    """A plan is found by its name: the file must be called `<name>.toml`."""
    if plan.name == path.stem:
        return None
    return Problem(
        "name",
        f"{plan.name!r} must match the file name {path.stem!r} (a plan is found by its name)",
    )


# ---------------------------------------------------------------- saving


def dumps(plan: Plan) -> str:
    """The plan as TOML that `decode` reads back to an equal plan (for the workspace's save)."""
    return _Toml().document(msgspec.to_builtins(plan, builtin_types=(dt.date, dt.time)))


@dataclass
class _Toml:
    lines: list[str] = field(default_factory=list)

    def document(self, data: dict[str, Any]) -> str:
        self.table(data, ())
        return "\n".join(self.lines).strip() + "\n"

    def table(self, data: dict[str, Any], path: tuple[str, ...], array: bool = False) -> None:
        if path:
            self.lines.append("")
            header = ".".join(_key(p) for p in path)
            self.lines.append(f"[[{header}]]" if array else f"[{header}]")
        nested: list[tuple[str, Any, bool]] = []
        for key, value in data.items():
            if value is None:
                continue
            if isinstance(value, dict) and value:
                nested.append((key, value, False))
            elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                nested.append((key, value, True))
            else:
                self.lines.append(f"{_key(key)} = {_value(value)}")
        for key, value, is_array in nested:
            if is_array:
                for item in value:
                    self.table(item, (*path, key), array=True)
            else:
                self.table(value, (*path, key))


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _string(key)


def _string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dict):
        return (
            "{"
            + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items() if v is not None)
            + "}"
        )
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")
