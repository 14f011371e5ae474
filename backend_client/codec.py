"""The one validating decoder (and the encoder) for every frame on Lookout's wire.

Pure functions over bytes: no sockets. A frame that fails any check raises
`ProtocolError` with a stable code; the caller turns it into an `error` frame.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import msgspec

from backend_client import PROTOCOL_VERSION
from backend_client import messages as m
from backend_client.errors import ErrorCode, ProtocolError
from backend_client.limits import MAX_FRAME_BYTES

T = TypeVar("T")

_encoder = msgspec.json.Encoder()


class _Envelope(msgspec.Struct):
    """Just enough of a frame to classify a failure and address the error reply."""

    type: Any = None
    v: Any = None
    id: Any = None


_envelope_decoder = msgspec.json.Decoder(_Envelope)
_TOO_DEEP = "frame nests arrays or objects too deeply"


def encode(msg: m.Msg) -> bytes:
    """Encode one message as a JSON frame (UTF-8 bytes)."""
    return _encoder.encode(msg)


def encode_text(msg: m.Msg) -> str:
    """Encode as `str`, so websockets sends a text frame."""
    return _encoder.encode(msg).decode("utf-8")


class Decoder(Generic[T]):
    """Decodes frames into one union of messages, e.g. `Decoder(m.OfficerInbound)`."""

    def __init__(self, union: Any, max_bytes: int = MAX_FRAME_BYTES) -> None:
        self._decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(union)
        self._known = {_tag_of(t) for t in _members(union)}
        self._max_bytes = max_bytes

    def decode(self, frame: bytes | str) -> T:
        raw = frame.encode("utf-8") if isinstance(frame, str) else frame
        if len(raw) > self._max_bytes:
            raise ProtocolError(
                ErrorCode.TOO_LARGE,
                f"frame of {len(raw)} bytes is over the {self._max_bytes}-byte limit",
            )
        try:
            msg: T = self._decoder.decode(raw)
        except msgspec.DecodeError as exc:
            raise self._classify(raw, exc) from None
        except UnicodeDecodeError:
            raise ProtocolError(ErrorCode.MALFORMED, "frame is not valid UTF-8") from None
        except RecursionError:  # msgspec's own depth limit: hostile input, not a relay bug
            raise ProtocolError(ErrorCode.MALFORMED, _TOO_DEEP) from None
        version = getattr(msg, "v", PROTOCOL_VERSION)
        if version != PROTOCOL_VERSION:
            raise ProtocolError(
                ErrorCode.UNSUPPORTED_VERSION,
                f"protocol version {version} is not supported; this relay speaks v{PROTOCOL_VERSION}",
            )
        return msg

    def _classify(self, raw: bytes, exc: msgspec.DecodeError) -> ProtocolError:
        try:
            env = _envelope_decoder.decode(raw)
        except msgspec.DecodeError:
            return ProtocolError(ErrorCode.MALFORMED, "frame is not a JSON object")
        except RecursionError:
            return ProtocolError(ErrorCode.MALFORMED, _TOO_DEEP)
        if not isinstance(env.type, str):
            return ProtocolError(ErrorCode.MALFORMED, "frame has no string `type` field")
        if env.type not in self._known:
            return ProtocolError(ErrorCode.UNKNOWN_TYPE, f"unknown message type {env.type[:64]!r}")
        text = str(exc)
        if "$.area" in text or "$.info.area" in text:
            code = ErrorCode.INVALID_GEOMETRY
        elif "length" in text and "<=" in text:
            code = ErrorCode.TOO_LARGE
        else:
            code = ErrorCode.MALFORMED
        return ProtocolError(code, f"{env.type}: {text}")


def request_id(frame: bytes | str) -> str | None:
    """Best-effort `id` of a frame that failed to decode, for the error's `re`."""
    try:
        env = _envelope_decoder.decode(frame.encode() if isinstance(frame, str) else frame)
    except (msgspec.DecodeError, UnicodeError, RecursionError):
        return None
    return env.id[:128] if isinstance(env.id, str) else None


def error_frame(exc: ProtocolError, re: str | None = None) -> m.Error:
    """The `error` reply for `exc`; a `rate_limited` one carries its `retry_after_s`."""
    retry = getattr(exc, "retry_after_s", None)
    return m.Error(
        code=exc.code.value,
        message=exc.message,
        re=re,
        retry_after_s=float(retry) if retry is not None else None,
    )


def _members(union: Any) -> tuple[Any, ...]:
    args = getattr(union, "__args__", None)
    return tuple(args) if args else (union,)


def _tag_of(struct: Any) -> str:
    info = msgspec.inspect.type_info(struct)
    return str(info.tag)  # type: ignore[attr-defined]


def message_types(union: Any) -> dict[str, type]:
    """`type` tag -> struct class, for docs, tests and dispatch tables."""
    return {_tag_of(t): t for t in _members(union)}


officer_inbound: Decoder[m.Msg] = Decoder(m.OfficerInbound)
officer_outbound: Decoder[m.Msg] = Decoder(m.OfficerOutbound)
citizen_inbound: Decoder[m.Msg] = Decoder(m.CitizenInbound)
citizen_outbound: Decoder[m.Msg] = Decoder(m.CitizenOutbound)
