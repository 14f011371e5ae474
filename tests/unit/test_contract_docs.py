"""The published contract (docs/protocol.md, docs/asyncapi.yaml) against the code.

Everything is derived from `messages`, `codec`, `limits` and `errors` at test time, so a
field, message, limit or error code added to the code fails here until it is documented.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import warnings
from pathlib import Path
from typing import Any

import msgspec
import msgspec.inspect as mi
import pytest
import yaml

from backend_client import asyncapi, codec, limits
from backend_client import messages as m
from backend_client.errors import ErrorCode

ROOT = Path(__file__).resolve().parents[2]
PROTOCOL = ROOT / "docs" / "protocol.md"
ASYNCAPI = ROOT / "docs" / "asyncapi.yaml"
REGENERATE = "run `python -m backend_client.asyncapi > docs/asyncapi.yaml`"

DECODERS: dict[str, tuple[codec.Decoder[m.Msg], Any]] = {
    "citizen_inbound": (codec.citizen_inbound, m.CitizenInbound),
    "citizen_outbound": (codec.citizen_outbound, m.CitizenOutbound),
    "officer_inbound": (codec.officer_inbound, m.OfficerInbound),
    "officer_outbound": (codec.officer_outbound, m.OfficerOutbound),
}

_MARKER = re.compile(r"<!-- frame: (\w+) -->\s*\n```json\n(.*?)\n```", re.S)
_HEADING = re.compile(r"^#{1,4} ", re.M)


def protocol_text() -> str:
    return PROTOCOL.read_text(encoding="utf-8")


def examples() -> list[tuple[str, str]]:
    """(decoder name, frame text) for every marked example in protocol.md."""
    return _MARKER.findall(protocol_text())


def sections() -> dict[str, str]:
    """`#### \\`name\\`...` heading -> its text up to the next heading."""
    text = protocol_text()
    found: dict[str, str] = {}
    starts = [mt.start() for mt in _HEADING.finditer(text)] + [len(text)]
    for a, b in zip(starts, starts[1:], strict=False):
        block = text[a:b]
        head = re.match(r"#### `([^`]+)`", block)
        if head:
            assert head.group(1) not in found, f"two sections for {head.group(1)}"
            found[head.group(1)] = block
    return found


def documented_fields(section: str) -> set[str]:
    return set(re.findall(r"^\| `([a-z0-9_]+)` \|", section, re.M))


def nested_structs() -> dict[str, mi.StructType]:
    """Every struct reachable from a message that is not itself a message."""
    infos = mi.multi_type_info(list(asyncapi.all_message_types().values()))
    seen: dict[str, mi.StructType] = {}

    def walk(t: mi.Type) -> None:
        if isinstance(t, mi.StructType):
            if not issubclass(t.cls, m.Msg):
                if t.cls.__name__ in seen:
                    return
                seen[t.cls.__name__] = t
            for f in t.fields:
                walk(f.type)
        elif isinstance(t, mi.ListType):
            walk(t.item_type)
        elif isinstance(t, mi.TupleType):
            for i in t.item_types:
                walk(i)
        elif isinstance(t, mi.UnionType):
            for u in t.types:
                walk(u)

    for info in infos:
        walk(info)
    return seen


# ---------------------------------------------------------------- (a) generated file is current


def test_asyncapi_yaml_is_current() -> None:
    assert ASYNCAPI.exists(), f"docs/asyncapi.yaml is missing: {REGENERATE}"
    expected = asyncapi.to_yaml(asyncapi.build())
    assert ASYNCAPI.read_text(encoding="utf-8") == expected, (
        f"docs/asyncapi.yaml is stale: {REGENERATE}"
    )


def test_generator_output_is_stable() -> None:
    assert asyncapi.to_yaml(asyncapi.build()) == asyncapi.to_yaml(asyncapi.build())


# ---------------------------------------------------------------- (b) valid AsyncAPI 3


def load_asyncapi() -> dict[str, Any]:
    doc = yaml.safe_load(ASYNCAPI.read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"only local refs are used: {ref}"
    node: Any = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"$ref {ref} does not resolve"
        node = node[part]
    return node


def deref(doc: dict[str, Any], ref: str) -> Any:
    """Follow a chain of `$ref`s (operation -> channel message -> component)."""
    node = resolve(doc, ref)
    while isinstance(node, dict) and set(node) == {"$ref"}:
        node = resolve(doc, node["$ref"])
    return node


def all_refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [r for v in node.values() for r in all_refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in all_refs(v)]
    return []


def test_asyncapi_document_structure() -> None:
    doc = load_asyncapi()
    assert doc["asyncapi"] == "3.0.0"
    assert {"title", "version"} <= set(doc["info"])
    refs = all_refs(doc)
    assert refs
    for ref in refs:
        resolve(doc, ref)
    key_pattern = re.compile(r"^[A-Za-z0-9_\-]+$")
    for section in ("messages", "schemas"):
        for key in doc["components"][section]:
            assert key_pattern.match(key), f"components.{section} key {key!r}"
    for server in doc["servers"].values():
        assert server["protocol"] == "wss"
        for var in re.findall(r"\{(\w+)\}", server["host"]):
            assert var in server["variables"]
    addresses = {c["address"] for c in doc["channels"].values()}
    assert addresses == {"/v1/officer", "/v1/citizen"}
    for chan_id, chan in doc["channels"].items():
        for key, ref in chan["messages"].items():
            msg = resolve(doc, ref["$ref"])
            assert ref["$ref"] == f"#/components/messages/{key}"
            assert ref["$ref"].startswith("#/components/messages/"), chan_id
            schema = resolve(doc, msg["payload"]["$ref"])
            assert schema["properties"]["type"]["enum"] == [msg["name"]]
    for op_id, op in doc["operations"].items():
        assert op["action"] in ("send", "receive"), op_id
        chan_ref = op["channel"]["$ref"]
        chan = resolve(doc, chan_ref)
        for ref in op["messages"]:
            # AsyncAPI 3: an operation's messages must be messages of its channel.
            assert ref["$ref"].startswith(chan_ref + "/messages/"), (op_id, ref)
            resolve(doc, ref["$ref"])
        assert chan is not None


def test_asyncapi_covers_every_message_of_every_union() -> None:
    doc = load_asyncapi()
    names = {
        (chan, action): {deref(doc, r["$ref"])["name"] for r in op["messages"]}
        for op in doc["operations"].values()
        for chan, action in [(op["channel"]["$ref"].rsplit("/", 1)[1], op["action"])]
    }
    assert names[("citizen", "receive")] == set(codec.message_types(m.CitizenInbound))
    assert names[("citizen", "send")] == set(codec.message_types(m.CitizenOutbound))
    assert names[("officer", "receive")] == set(codec.message_types(m.OfficerInbound))
    assert names[("officer", "send")] == set(codec.message_types(m.OfficerOutbound))
    assert doc["x-lookout-error-codes"] == sorted(c.value for c in ErrorCode)


def test_asyncapi_validates_against_an_asyncapi3_model() -> None:
    """Full AsyncAPI 3.0 object-model validation (pydantic models of the spec)."""
    with warnings.catch_warnings():  # asyncapi3's own pydantic field-shadowing warnings
        warnings.simplefilter("ignore", UserWarning)
        models = pytest.importorskip(
            "asyncapi3.models.asyncapi",
            reason="asyncapi3 (PyPI) is not installed; the structure is still checked above",
        )
        models.AsyncAPI3.model_validate(load_asyncapi())
    broken = load_asyncapi()
    broken["operations"]["officerSend"]["action"] = "publish"  # AsyncAPI 2 wording
    with warnings.catch_warnings(), pytest.raises(ValueError):
        warnings.simplefilter("ignore", UserWarning)
        models.AsyncAPI3.model_validate(broken)


# ---------------------------------------------------------------- (c) examples decode


def test_every_json_block_is_marked() -> None:
    text = protocol_text()
    assert text.count("```json") == len(examples()), (
        "every ```json block needs a `<!-- frame: DECODER -->` line right above it"
    )


@pytest.mark.parametrize(
    ("name", "body"), examples(), ids=[f"{n}:{json.loads(b)['type']}" for n, b in examples()]
)
def test_example_decodes_with_its_decoder(name: str, body: str) -> None:
    assert name in DECODERS, f"unknown decoder {name!r} in marker"
    decoder, _ = DECODERS[name]
    msg = decoder.decode(body)
    obj = json.loads(body)
    assert obj["v"] == 1, "examples show the envelope in full"
    # Decode -> encode -> decode is stable, and nothing in the example was ignored.
    assert decoder.decode(codec.encode(msg)) == msg
    assert set(obj) <= {f.name for f in msgspec.structs.fields(type(msg))} | {"type"}


def test_every_message_type_of_every_union_has_an_example() -> None:
    covered: dict[str, set[str]] = {name: set() for name in DECODERS}
    for name, body in examples():
        covered[name].add(json.loads(body)["type"])
    for name, (_, union) in DECODERS.items():
        missing = set(codec.message_types(union)) - covered[name]
        assert not missing, f"protocol.md has no {name} example for {sorted(missing)}"


def test_examples_match_asyncapi_payload_properties() -> None:
    doc = load_asyncapi()
    by_name = {msg["name"]: msg for msg in doc["components"]["messages"].values()}
    for _, body in examples():
        obj = json.loads(body)
        schema = resolve(doc, by_name[obj["type"]]["payload"]["$ref"])
        assert set(obj) <= set(schema["properties"]), obj["type"]
        assert set(schema["required"]) <= set(obj), obj["type"]


def test_worked_media_example_is_consistent() -> None:
    """The sha256, size and base64 in the worked example describe the same bytes."""
    frames = [json.loads(body) for _, body in examples()]
    chunk = next(f for f in frames if f["type"] == "media.chunk")
    data = base64.b64decode(chunk["data"], validate=True)
    assert chunk["offset"] == 0
    assert hashlib.sha256(data).hexdigest() == chunk["sha256"]
    decl = next(f for f in frames if f["type"] == "report.submit")["media"][0]
    assert (decl["sha256"], decl["size"]) == (chunk["sha256"], len(data))
    assert data.startswith(b"\x89PNG") and decl["mime"] == "image/png"
    text = protocol_text()
    assert chunk["sha256"] in text.split("## 8.")[1]
    assert " ".join(f"{b:02x}" for b in data[:16]) in text


# ---------------------------------------------------------------- (d) codes, limits, fields


@pytest.mark.parametrize("code", list(ErrorCode))
def test_every_error_code_is_documented(code: ErrorCode) -> None:
    errors = protocol_text().split("## 9. Errors")[1].split("\n## ")[0]
    assert re.search(rf"^\| `{code.value}` \|", errors, re.M), (
        f"error code {code.value!r} has no row in protocol.md section 9"
    )


LIMITS = {k: v for k, v in vars(limits).items() if k.isupper() and isinstance(v, int | float)}


@pytest.mark.parametrize("name", sorted(LIMITS))
def test_every_limit_is_documented_with_its_value(name: str) -> None:
    text = protocol_text()
    row = re.search(rf"^\| `{name}` \| ([^|]+) \|", text, re.M)
    assert row, f"limit {name} has no row in protocol.md section 10"
    assert float(row.group(1).strip()) == LIMITS[name], f"{name}: doc says {row.group(1)}"


@pytest.mark.parametrize("tag", sorted(asyncapi.all_message_types()))
def test_every_message_has_a_section_listing_exactly_its_fields(tag: str) -> None:
    cls = asyncapi.all_message_types()[tag]
    section = sections().get(tag)
    assert section, f"protocol.md has no `#### \\`{tag}\\`` section"
    fields = {f.name for f in msgspec.structs.fields(cls)} - {"v"}
    assert documented_fields(section) == fields, f"{tag}: table rows vs struct fields"


@pytest.mark.parametrize("name", sorted(nested_structs()))
def test_every_nested_object_has_a_section_listing_exactly_its_fields(name: str) -> None:
    info = nested_structs()[name]
    section = sections().get(name)
    assert section, f"protocol.md has no `#### \\`{name}\\` object` section"
    fields = {f.name for f in info.fields} | ({info.tag_field} if info.tag_field else set())
    assert documented_fields(section) == fields, f"{name}: table rows vs struct fields"


def test_every_category_is_documented() -> None:
    row = next(ln for ln in protocol_text().splitlines() if ln.startswith("| category |"))
    assert set(re.findall(r"`(\w+)`", row)) == set(m.CATEGORIES)
