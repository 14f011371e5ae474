"""Stable error codes carried by the `error` message. Clients branch on these, never on text."""

from enum import StrEnum


class ErrorCode(StrEnum):
    MALFORMED = "malformed"  # not JSON, wrong field types, missing fields
    UNKNOWN_TYPE = "unknown_type"  # a `type` this relay does not know
    UNSUPPORTED_VERSION = "unsupported_version"  # envelope `v` not supported
    TOO_LARGE = "too_large"  # frame or field over its limit
    UNAUTHENTICATED = "unauthenticated"  # message needs a login / device auth first
    BAD_CREDENTIALS = "bad_credentials"  # wrong user, password or TOTP code
    ACCOUNT_DISABLED = "account_disabled"
    TOKEN_EXPIRED = "token_expired"  # session token past its expiry: log in again
    FORBIDDEN = "forbidden"  # role may not do this, or wrong endpoint
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"  # e.g. report claimed by someone else, illegal status move
    INVALID = "invalid"  # semantically invalid value (category, status, time...)
    INVALID_GEOMETRY = "invalid_geometry"  # self-intersecting, too few points, bad radius
    MEDIA_HASH_MISMATCH = "media_hash_mismatch"
    MEDIA_TYPE_MISMATCH = "media_type_mismatch"  # magic bytes do not match declared type
    MEDIA_TOO_LARGE = "media_too_large"
    IMAGE_TOO_MANY_PIXELS = "image_too_many_pixels"
    MEDIA_CORRUPT = "media_corrupt"
    NEEDS_APPROVAL = "needs_approval"
    RATE_LIMITED = "rate_limited"
    #: the relay's storage failed (disk full, read-only): not applied, retry later
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"  # relay bug; the request was not applied


class ProtocolError(Exception):
    """Raised anywhere in request handling; becomes one `error` frame, connection lives on."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
