"""Alert templates: the wording a control room reuses, kept as TOML in `resources/templates/`.

A template only fills the composer; the dispatcher still reads and edits every field before
sending. Files are checked strictly (unknown keys, CAP enumerations, categories, lengths) so
a typo in a template is a clear error when the console starts, not a rejected alert later.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import msgspec

from backend_client import limits
from backend_client import messages as m

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "resources" / "templates"

CAP_CATEGORIES: tuple[str, ...] = get_args(m.CapCategory)
CAP_URGENCIES: tuple[str, ...] = get_args(m.CapUrgency)
CAP_SEVERITIES: tuple[str, ...] = get_args(m.CapSeverity)
CAP_CERTAINTIES: tuple[str, ...] = get_args(m.CapCertainty)
CAP_RESPONSE_TYPES: tuple[str, ...] = get_args(m.CapResponseType)

#: the longest an alert may stay current when sent from a template (30 days)
MAX_EXPIRY_HOURS = 720.0


class TemplateError(ValueError):
    """A template file is unusable; the message names the file and the field."""


@dataclass(frozen=True)
class AlertTemplate:
    key: str  # the file name without .toml
    name: str
    headline: str
    description: str
    instruction: str
    event: str
    cap_category: str
    urgency: str
    severity: str
    certainty: str
    categories: tuple[str, ...]
    expiry_hours: float
    #: CAP `responseType` (the optional `response_type` key; Monitor when absent)
    response_type: str = "Monitor"
    #: the wording in other languages (optional `[[translations]]` tables: language,
    #: headline, description, instruction), each a second CAP `info` block when sent
    translations: tuple[m.AlertTranslation, ...] = ()


_TEXT_FIELDS = {
    "name": limits.MAX_SHORT_CHARS,
    "headline": limits.MAX_SHORT_CHARS,
    "event": limits.MAX_SHORT_CHARS,
    "description": limits.MAX_TEXT_CHARS,
    "instruction": limits.MAX_TEXT_CHARS,
}
_CHOICES = {
    "cap_category": CAP_CATEGORIES,
    "urgency": CAP_URGENCIES,
    "severity": CAP_SEVERITIES,
    "certainty": CAP_CERTAINTIES,
}
_KEYS = {*_TEXT_FIELDS, *_CHOICES, "categories", "expiry_hours"}
_OPTIONAL = {"response_type", "translations"}


def load_templates(directory: Path = DEFAULT_DIR) -> list[AlertTemplate]:
    """Every `*.toml` in `directory`, sorted by name; raises TemplateError on the first bad one."""
    if not directory.is_dir():
        raise TemplateError(f"The alert template folder {directory} does not exist.")
    out = [load_template(p) for p in sorted(directory.glob("*.toml"))]
    names = [t.name for t in out]
    for name in names:
        if names.count(name) > 1:
            raise TemplateError(f"Two alert templates in {directory} are both called {name!r}.")
    return sorted(out, key=lambda t: t.name.casefold())


def load_template(path: Path) -> AlertTemplate:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateError(f"Alert template {path.name} cannot be read: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise TemplateError(f"Alert template {path.name} is not valid TOML: {exc}") from exc
    return parse_template(path.stem, data, source=path.name)


def parse_template(key: str, data: dict[str, Any], source: str = "") -> AlertTemplate:
    where = f"Alert template {source or key}"
    unknown = sorted(set(data) - _KEYS - _OPTIONAL)
    if unknown:
        raise TemplateError(
            f"{where}: unknown field(s) {', '.join(unknown)}; "
            f"the fields are {', '.join(sorted(_KEYS | _OPTIONAL))}."
        )
    missing = sorted(_KEYS - set(data))
    if missing:
        raise TemplateError(f"{where}: missing field(s) {', '.join(missing)}.")
    for field, limit in _TEXT_FIELDS.items():
        value = data[field]
        if not isinstance(value, str):
            raise TemplateError(f"{where}: {field} must be text.")
        if len(value) > limit:
            raise TemplateError(f"{where}: {field} is {len(value)} characters; at most {limit}.")
    for field in ("name", "headline"):
        if not data[field].strip():
            raise TemplateError(f"{where}: {field} must not be empty.")
    for field, choices in _CHOICES.items():
        if data[field] not in choices:
            raise TemplateError(
                f"{where}: {field} is {data[field]!r}; it must be one of {', '.join(choices)}."
            )
    cats = data["categories"]
    if not isinstance(cats, list) or not cats or not all(isinstance(c, str) for c in cats):
        raise TemplateError(f"{where}: categories must be a non-empty list of category names.")
    bad = [c for c in cats if c not in m.CATEGORIES]
    if bad:
        raise TemplateError(
            f"{where}: unknown categor{'y' if len(bad) == 1 else 'ies'} {', '.join(bad)}; "
            f"known: {', '.join(m.CATEGORIES)}."
        )
    hours = data["expiry_hours"]
    if isinstance(hours, bool) or not isinstance(hours, int | float):
        raise TemplateError(f"{where}: expiry_hours must be a number of hours.")
    if not 0 < hours <= MAX_EXPIRY_HOURS:
        raise TemplateError(
            f"{where}: expiry_hours is {hours}; it must be above 0 and at most "
            f"{MAX_EXPIRY_HOURS:g}."
        )
    response_type = data.get("response_type", "Monitor")
    if response_type not in CAP_RESPONSE_TYPES:
        raise TemplateError(
            f"{where}: response_type is {response_type!r}; it must be one of "
            f"{', '.join(CAP_RESPONSE_TYPES)}."
        )
    translations = _translations(where, data.get("translations", []))
    return AlertTemplate(
        key=key,
        name=data["name"].strip(),
        headline=data["headline"].strip(),
        description=data["description"].strip(),
        instruction=data["instruction"].strip(),
        event=data["event"].strip(),
        cap_category=data["cap_category"],
        urgency=data["urgency"],
        severity=data["severity"],
        certainty=data["certainty"],
        categories=tuple(dict.fromkeys(cats)),
        expiry_hours=float(hours),
        response_type=response_type,
        translations=translations,
    )


def _translations(where: str, tables: object) -> tuple[m.AlertTranslation, ...]:
    """The `[[translations]]` tables as the wire's translations, checked the same way (a
    valid language tag, wire lengths, a headline, no language twice nor the alert's own)."""
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise TemplateError(f"{where}: translations must be [[translations]] tables.")
    if len(tables) > m.MAX_TRANSLATIONS:
        raise TemplateError(f"{where}: at most {m.MAX_TRANSLATIONS} translations.")
    out = []
    seen = {"en-gb"}  # a template's own wording is the console's language, en-GB
    for table in tables:
        unknown = sorted(set(table) - set(m.AlertTranslation.__struct_fields__))
        if unknown:
            raise TemplateError(
                f"{where}: unknown translation field(s) {', '.join(unknown)}; the fields "
                f"are {', '.join(m.AlertTranslation.__struct_fields__)}."
            )
        try:
            t = msgspec.convert(
                {k: v.strip() if isinstance(v, str) else v for k, v in table.items()},
                m.AlertTranslation,
            )
        except msgspec.ValidationError as exc:
            raise TemplateError(f"{where}: a translation is not usable: {exc}.") from exc
        if not t.headline:
            raise TemplateError(f"{where}: the {t.language} translation has no headline.")
        if t.language.lower() in seen:
            raise TemplateError(f"{where}: the language {t.language} is given twice.")
        seen.add(t.language.lower())
        out.append(t)
    return tuple(out)
