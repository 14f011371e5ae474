"""The Google Public Alerts CAP profile, as rules on an alert before it is sent.

Google's public alerts platform (and aggregators that follow it) refuse or demote CAP
that breaks its profile, "Google Public Alerts CAP v1.0". The rules are those of the
`GoogleProfile` class in google/cap-library
(java/src/com/google/publicalerts/cap/profile/GoogleProfile.java, whose reasons carry a
level: ERROR, RECOMMENDATION or INFO); each `Problem.rule` below is the name of the reason
it stands for, so a finding can be traced to its source. We follow them, not its code.

Of its ERROR rules, Lookout's CAP writer meets most by construction (an `info` block, the
same `category` in every block, `expires`, `urgency`, `severity`, `certainty`, an `area`
with a polygon or circle, `references` on an Update or Cancel: `relay.cap.
validate_google_profile` checks them in the written XML). The ones an officer's words can
break are checked here:

- DESCRIPTION_IS_REQUIRED: every `info` block has a non-blank `description`;
- WEB_IS_REQUIRED: every block has `web` (the relay writes it when it has a base URL,
  and says at sign-in whether it has, `AuthOk.cap_web`: the caller's `web` argument);
- EFFECTIVE_NOT_AFTER_EXPIRES: `expires` is after `sent` (Lookout has no `effective`).

Its RECOMMENDATION rules checked here: INSTRUCTION_STRONGLY_RECOMMENDED,
HEADLINE_TOO_LONG (140 characters or more is too long), HEADLINE_AND_DESCRIPTION_SHOULD_DIFFER,
DESCRIPTION_AND_INSTRUCTION_SHOULD_DIFFER, UNKNOWN_URGENCY/SEVERITY/CERTAINTY_DISCOURAGED,
CONTACT_IS_RECOMMENDED and TEST_ALERT_DISCOURAGED. RESPONSE_TYPE_STRONGLY_RECOMMENDED and
SENDER_NAME_STRONGLY_RECOMMENDED are always met (Monitor by default; the officer's name)
and NONZERO_CIRCLE_RADIUS_RECOMMENDED by the wire (a circle's radius is above zero).

`language_problems` is not Google's: it is CAP 1.2 itself (one `info` block per language,
section 3.2.2, so a language given twice is ambiguous) and the relay refuses such an alert.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

from backend_client import messages as m

#: Google's HEADLINE_TOO_LONG: "Headline should be less than 140 characters."
MAX_HEADLINE_CHARS = 139

Level = Literal["error", "recommendation"]


@dataclass(frozen=True, slots=True)
class Problem:
    """One way an alert falls short of the profile, in the dispatcher's words.

    `level` is Google's: an "error" means the alert would be refused by the profile, a
    "recommendation" that it would be accepted but shown less well. `rule` is the name of
    Google's reason; `language` the `info` block it is about ("" for the whole alert)."""

    level: Level
    rule: str
    text: str
    language: str = ""


@dataclass(frozen=True, slots=True)
class _Block:
    language: str
    headline: str
    description: str
    instruction: str


def _blocks(info: m.AlertInfo) -> list[_Block]:
    first = _Block(info.language, info.headline, info.description, info.instruction)
    rest = [_Block(t.language, t.headline, t.description, t.instruction) for t in info.translations]
    return [first, *rest]


def language_problems(info: m.AlertInfo) -> list[str]:
    """Why the alert's languages cannot make one CAP message (empty when they can): each
    language at most once, tags compared without regard to case (RFC 5646 2.1.1)."""
    seen: set[str] = set()
    out = []
    for block in _blocks(info):
        key = block.language.lower()
        if key in seen:
            out.append(f"The language {block.language} is given twice; give each language once.")
        seen.add(key)
    for t in info.translations:
        if not t.headline.strip():
            out.append(f"Write the headline in the {t.language} translation.")
    return out


def check(info: m.AlertInfo, *, web: bool = True, now: float | None = None) -> list[Problem]:
    """Every profile problem of `info`, errors first, in the dispatcher's words."""
    now = time.time() if now is None else now
    errors: list[Problem] = []
    notes: list[Problem] = []
    for block in _blocks(info):
        lang = block.language
        where = "" if lang == info.language else f" ({lang})"
        description = block.description.strip()
        instruction = block.instruction.strip()
        if not description:
            errors.append(
                Problem(
                    "error",
                    "DESCRIPTION_IS_REQUIRED",
                    f"Add a description{where}: Google Public Alerts needs one.",
                    lang,
                )
            )
        if not instruction:
            notes.append(
                Problem(
                    "recommendation",
                    "INSTRUCTION_STRONGLY_RECOMMENDED",
                    f"Add an instruction{where}: say what people should do.",
                    lang,
                )
            )
        if len(block.headline) > MAX_HEADLINE_CHARS:
            notes.append(
                Problem(
                    "recommendation",
                    "HEADLINE_TOO_LONG",
                    f"Shorten the headline{where} below 140 characters "
                    f"(it has {len(block.headline)}).",
                    lang,
                )
            )
        if description == block.headline.strip():
            notes.append(
                Problem(
                    "recommendation",
                    "HEADLINE_AND_DESCRIPTION_SHOULD_DIFFER",
                    f"The description{where} repeats the headline: give more detail.",
                    lang,
                )
            )
        if instruction and instruction == description:
            notes.append(
                Problem(
                    "recommendation",
                    "DESCRIPTION_AND_INSTRUCTION_SHOULD_DIFFER",
                    f"The instruction{where} repeats the description: say what to do.",
                    lang,
                )
            )
    if not web:
        errors.append(
            Problem(
                "error",
                "WEB_IS_REQUIRED",
                "The relay has no web address for alert pages (cap_web_base), which "
                "Google Public Alerts needs.",
            )
        )
    if info.expires_at <= now:
        errors.append(
            Problem(
                "error",
                "EFFECTIVE_NOT_AFTER_EXPIRES",
                "The alert expires before it is sent: set the expiry in the future.",
            )
        )
    for name, value in (
        ("urgency", info.urgency),
        ("severity", info.severity),
        ("certainty", info.certainty),
    ):
        if value == "Unknown":
            notes.append(
                Problem(
                    "recommendation",
                    f"UNKNOWN_{name.upper()}_DISCOURAGED",
                    f"Choose the {name}: Unknown is discouraged.",
                )
            )
    if not info.contact.strip():
        notes.append(
            Problem(
                "recommendation",
                "CONTACT_IS_RECOMMENDED",
                "Add a contact, so people can respond to the alert.",
            )
        )
    if info.status == "Test":
        notes.append(
            Problem(
                "recommendation",
                "TEST_ALERT_DISCOURAGED",
                "Test alerts never appear in Google Public Alerts.",
            )
        )
    return errors + notes


def summary(problems: list[Problem]) -> str:
    """One line per problem, "Needed" for errors and "Advised" for recommendations."""
    return "\n".join(f"{'Needed' if p.level == 'error' else 'Advised'}: {p.text}" for p in problems)
