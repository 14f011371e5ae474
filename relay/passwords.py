"""Which new passwords an officer account may have (OWASP ASVS 5.0 V6.2).

At least 8 characters and no composition rules (6.2.1, 6.2.5); not the user name or a
word of the product's own (6.2.11); and not common or easy to guess (6.2.4), judged by
zxcvbn, which knows the most used passwords of public breaches, dictionary words,
names, keyboard walks, dates and l33t spellings. A breached-password service (6.2.12)
would need the internet, which a relay may not have: not used.
"""

from __future__ import annotations

from zxcvbn import zxcvbn

__all__ = ["MIN_LENGTH", "problem"]

MIN_LENGTH = 8
#: zxcvbn's score runs 0-4; 3 is "safely unguessable: moderate protection from offline
#: slow-hash attacks" (about 10^8 guesses or more)
MIN_SCORE = 3
#: zxcvbn judges at most 72 characters (its cost grows with length); a longer password
#: is judged on its first 72
_JUDGED = 72
#: a user name shorter than this is not looked for inside the password (it would match
#: too much by chance)
_MIN_NAME = 3
_CONTEXT = ("lookout", "police", "officer", "control", "relay", "console", "password")


def problem(password: str, username: str) -> str | None:
    """Why `password` may not be `username`'s, in words fit to show them; None when fine."""
    if len(password) < MIN_LENGTH:
        return f"A password needs at least {MIN_LENGTH} characters."
    if len(username) >= _MIN_NAME and username.casefold() in password.casefold():
        return "A password must not contain your user name."
    verdict = zxcvbn(password[:_JUDGED], user_inputs=[username, *_CONTEXT])
    if verdict["score"] >= MIN_SCORE:
        return None
    feedback = verdict["feedback"]
    why = feedback.get("warning") or "It is too easy to guess."
    hint = " ".join(feedback.get("suggestions") or ["Use a few uncommon words together."])
    return f"{why.rstrip('.')}. {hint}".strip()
