"""What a resident types to sign up, checked before anything is stored.

Every refusal is a `ProtocolError(INVALID)` whose message says what to fix, in the
resident's words, and never repeats the address (messages may be logged).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from email.errors import HeaderParseError
from email.headerregistry import Address

from backend_client import messages as m
from backend_client.errors import ErrorCode, ProtocolError
from relay import targeting

#: RFC 5321: a path of at most 256 octets including the angle brackets
MAX_ADDRESS_CHARS = 254
MAX_LOCAL_CHARS = 64
#: a subscription's radius: from a street to a small town
MIN_RADIUS_M = 100.0
MAX_RADIUS_M = 10_000.0
#: dot-atom local parts only (RFC 5322 atext): no quoted strings, comments or spaces
_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]")


@dataclass(frozen=True, slots=True)
class SignUp:
    address: str  # as it will be written in To: (domain in ASCII, lower case)
    normalised: str  # the de-duplication form: all lower case
    lat: float
    lon: float
    radius_m: float
    mask: int


def _invalid(message: str) -> ProtocolError:
    return ProtocolError(ErrorCode.INVALID, message)


def check_address(text: str) -> tuple[str, str]:
    """(address to send to, normalised form) or ProtocolError(INVALID)."""
    if not isinstance(text, str):
        raise _invalid("give an email address")
    if _CONTROL.search(text):
        raise _invalid("the email address contains a line break or control character")
    text = text.strip()
    if not text:
        raise _invalid("give an email address")
    if len(text) > MAX_ADDRESS_CHARS:
        raise _invalid(f"the email address is longer than {MAX_ADDRESS_CHARS} characters")
    if text.count("@") != 1:
        raise _invalid("an email address has exactly one @, like name@example.net")
    local, domain = text.split("@")
    if not local or len(local) > MAX_LOCAL_CHARS or not _LOCAL.fullmatch(local):
        raise _invalid(
            "the part before @ may hold letters, digits and . ! # $ % & ' * + / = ? ^ _ ` "
            "{ | } ~ -, not spaces, quotes or two dots in a row"
        )
    try:
        ascii_domain = domain.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise _invalid("the part after @ is not a valid domain name") from None
    labels = ascii_domain.split(".")
    if len(labels) < 2 or not all(_LABEL.fullmatch(x) for x in labels) or labels[-1].isdigit():
        raise _invalid("the part after @ must be a domain name like example.net")
    try:
        parsed = Address(username=local, domain=ascii_domain)
    except (HeaderParseError, ValueError, IndexError):
        raise _invalid("that is not an email address") from None
    address = parsed.addr_spec
    if len(address) > MAX_ADDRESS_CHARS:
        raise _invalid(f"the email address is longer than {MAX_ADDRESS_CHARS} characters")
    return address, address.lower()


def check_signup(
    address: str, lat: float, lon: float, radius_m: float, categories: list[str]
) -> SignUp:
    to, normalised = check_address(address)
    for name, value, low, high in (
        ("latitude", lat, -90.0, 90.0),
        ("longitude", lon, -180.0, 180.0),
    ):
        if (
            not isinstance(value, int | float)
            or isinstance(value, bool)
            or not math.isfinite(value)
        ):
            raise _invalid(f"the place's {name} is not a number")
        if not low <= value <= high:
            raise _invalid(f"the place's {name} must be between {low:g} and {high:g}")
    if (
        not isinstance(radius_m, int | float)
        or isinstance(radius_m, bool)
        or not math.isfinite(radius_m)
        or not MIN_RADIUS_M <= radius_m <= MAX_RADIUS_M
    ):
        raise _invalid(
            f"the radius must be between {MIN_RADIUS_M:.0f} m and {MAX_RADIUS_M / 1000:.0f} km"
        )
    if not categories:
        raise _invalid("choose at least one kind of alert")
    if len(categories) > len(m.CATEGORIES):
        raise _invalid("too many categories")
    try:
        mask = targeting.category_mask(categories)
    except (ValueError, TypeError) as exc:
        raise _invalid(str(exc)) from None
    return SignUp(to, normalised, float(lat), float(lon), float(radius_m), mask)
