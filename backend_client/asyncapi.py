"""The wire contract as an AsyncAPI 3.0.0 document, generated from `messages`.

Derived, never hand-written, so the published description cannot drift from the
structs the relay and the console actually decode. The document describes the relay:
it *receives* the inbound unions and *sends* the outbound ones. `docs/asyncapi.yaml`
is this module's output, and a unit test fails when the two differ:

    python -m backend_client.asyncapi > docs/asyncapi.yaml
"""

from __future__ import annotations

import inspect
from typing import Any

import msgspec
import yaml

from backend_client import CITIZEN_PATH, OFFICER_PATH, PROTOCOL_VERSION, limits
from backend_client import messages as m
from backend_client.codec import message_types
from backend_client.errors import ErrorCode

SCHEMA_REF = "#/components/schemas/{name}"
"""Where msgspec's `$ref`s point; AsyncAPI keeps reusable schemas under components."""

#: (channel id, address, who connects, relay receives, relay sends)
CHANNELS: tuple[tuple[str, str, str, Any, Any], ...] = (
    ("officer", OFFICER_PATH, "officer consoles", m.OfficerInbound, m.OfficerOutbound),
    ("citizen", CITIZEN_PATH, "citizen devices", m.CitizenInbound, m.CitizenOutbound),
)


def all_message_types() -> dict[str, type]:
    """Every `type` tag on the wire -> its struct; a tag must mean one struct everywhere."""
    found: dict[str, type] = {}
    for _, _, _, inbound, outbound in CHANNELS:
        for tag, cls in {**message_types(inbound), **message_types(outbound)}.items():
            if found.setdefault(tag, cls) is not cls:
                raise ValueError(f"type tag {tag!r} names both {found[tag]} and {cls}")
    return found


def build() -> dict[str, Any]:
    """The whole AsyncAPI document as plain data (ready for YAML or JSON)."""
    types = all_message_types()
    tags = sorted(types)
    _, schemas = msgspec.json.schema_components([types[t] for t in tags], ref_template=SCHEMA_REF)
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for chan, address, peers, inbound, outbound in CHANNELS:
        received = sorted(_key(cls) for cls in message_types(inbound).values())
        sent = sorted(_key(cls) for cls in message_types(outbound).values())
        channels[chan] = {
            "address": address,
            "title": f"{address} ({peers})",
            "description": (
                f"Websocket endpoint for {peers}: text frames, one JSON object each, "
                f"at most {limits.MAX_FRAME_BYTES} bytes, no compression."
            ),
            "servers": [{"$ref": "#/servers/relay"}],
            "messages": {
                key: {"$ref": f"#/components/messages/{key}"} for key in sorted({*received, *sent})
            },
        }
        operations[f"{chan}Receive"] = _operation("receive", chan, received, peers)
        operations[f"{chan}Send"] = _operation("send", chan, sent, peers)
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Lookout relay wire protocol",
            "version": str(PROTOCOL_VERSION),
            "description": (
                "Generated from backend_client/messages.py by "
                "`python -m backend_client.asyncapi`; the prose contract is "
                "docs/protocol.md. Every frame carries `type` and `v` "
                f"(= {PROTOCOL_VERSION}); requests carry `id`, replies carry `re`."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "relay": {
                "host": "{host}:{port}",
                "protocol": "wss",
                "description": (
                    "A Lookout relay. TLS with the relay's own CA (or a pinned "
                    "certificate fingerprint); HTTPS GET /healthz and /metrics share the port."
                ),
                "variables": {
                    "host": {"description": "relay host name or address"},
                    "port": {"description": "relay TLS port"},
                },
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": {_key(types[tag]): _message(tag, types[tag]) for tag in tags},
            "schemas": {name: _to_asyncapi_schema(s) for name, s in sorted(schemas.items())},
        },
        "x-lookout-limits": _limits(),
        "x-lookout-error-codes": sorted(code.value for code in ErrorCode),
    }


def _key(cls: type) -> str:
    """Message id in the document: the struct's name (not every AsyncAPI tool accepts
    dots in keys, and `type` tags have them); the tag itself is the message's `name`."""
    return cls.__name__


def _operation(action: str, chan: str, keys: list[str], peers: str) -> dict[str, Any]:
    verb = "receives from" if action == "receive" else "sends to"
    return {
        "action": action,
        "channel": {"$ref": f"#/channels/{chan}"},
        "summary": f"Frames the relay {verb} {peers}.",
        "messages": [{"$ref": f"#/channels/{chan}/messages/{key}"} for key in keys],
    }


def _message(tag: str, cls: type) -> dict[str, Any]:
    fields = {f.name for f in msgspec.structs.fields(cls)}
    kind = (
        "event"
        if "seq" in fields
        else "request"
        if "id" in fields
        else "reply"
        if "re" in fields
        else "push"
    )
    msg: dict[str, Any] = {
        "name": tag,
        "title": cls.__name__,
        "contentType": "application/json",
        "payload": {"$ref": SCHEMA_REF.format(name=cls.__name__)},
        "tags": [{"name": kind}],
    }
    own_doc = vars(cls).get("__doc__")  # not Msg's docstring, inherited
    if own_doc:
        msg["summary"] = inspect.cleandoc(own_doc).splitlines()[0]
    if kind in ("request", "reply"):
        where = "id" if kind == "request" else "re"
        msg["correlationId"] = {"location": f"$message.payload#/{where}"}
    return msg


def _to_asyncapi_schema(node: Any) -> Any:
    """msgspec emits JSON Schema 2020-12 with OpenAPI discriminators; AsyncAPI's
    default schema format is draft-07 based, so rewrite the two constructs that differ."""
    if isinstance(node, list):
        return [_to_asyncapi_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _to_asyncapi_schema(v) for k, v in node.items()}
    if "prefixItems" in out:  # tuple: 2020-12 prefixItems -> draft-07 items array
        out["items"] = out.pop("prefixItems")
        out["additionalItems"] = False
    if isinstance(out.get("discriminator"), dict):  # AsyncAPI: the property name only
        out["discriminator"] = out["discriminator"]["propertyName"]
    return out


def _limits() -> dict[str, int | float]:
    return {
        name: value
        for name, value in sorted(vars(limits).items())
        if name.isupper() and isinstance(value, int | float)
    }


def to_yaml(doc: dict[str, Any]) -> str:
    """Stable YAML: sorted keys, no anchors, so the checked-in file diffs cleanly."""

    class _NoAliases(yaml.SafeDumper):
        def ignore_aliases(self, data: Any) -> bool:
            return True

    return yaml.dump(
        doc,
        Dumper=_NoAliases,
        sort_keys=True,
        allow_unicode=True,
        width=100,
        default_flow_style=False,
    )


if __name__ == "__main__":
    print(to_yaml(build()), end="")
