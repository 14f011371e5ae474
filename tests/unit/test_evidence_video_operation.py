"""The `redact-video` operation's shape (docs/evidence.md, "The disclosure manifest"): what
the verifier accepts and refuses, structure only, as for a photo's `redact`."""

from __future__ import annotations

from typing import Any

import pytest

from evidence.format import check_operation

BOX = {"x": 0, "y": 0, "w": 4, "h": 4, "mode": "box"}
RANGE = {"start_s": 0.5, "end_s": 1}


def _op(**kw: Any) -> dict[str, Any]:
    op: dict[str, Any] = {"type": "redact-video", "ranges": [RANGE], "audio": "kept"}
    op.update(kw)
    return {k: v for k, v in op.items() if v is not None}


@pytest.mark.parametrize(
    "op",
    [
        _op(regions=[BOX]),
        _op(whole_frame=True, audio="muted"),
        _op(regions=[], audio="muted"),  # the sound only
        _op(regions=[{**BOX, "mode": "pixelate", "block": 16}], audio="none"),
        _op(ranges=[RANGE, {"start_s": 0, "end_s": 0.25}], whole_frame=True),
    ],
)
def test_well_formed(op):
    assert check_operation(op) == ""


@pytest.mark.parametrize(
    ("op", "why"),
    [
        (_op(ranges=[], regions=[BOX]), "at least one time range"),
        (_op(ranges=None, regions=[BOX]), "at least one time range"),
        (_op(ranges=[{"start_s": 1, "end_s": 1}], regions=[BOX]), "ends after it starts"),
        (_op(ranges=[{"start_s": -1, "end_s": 1}], regions=[BOX]), "0 s or later"),
        (_op(ranges=[{"start_s": True, "end_s": 2}], regions=[BOX]), "finite numbers"),
        (_op(ranges=[{"start_s": 0, "end_s": float("inf")}], regions=[BOX]), "finite numbers"),
        (_op(ranges=[[0, 1]], regions=[BOX]), "start_s and end_s"),
        (_op(regions=[BOX], audio="loud"), "audio is one of"),
        (_op(regions=[BOX], audio=None), "audio is one of"),
        (_op(whole_frame=True, regions=[BOX]), "not both"),
        (_op(whole_frame=False, regions=[BOX]), "whole_frame, when given, is true"),
        (_op(regions=[]), "at least one region"),  # nothing hidden at all
        (_op(), "at least one region"),
        (_op(regions=[{**BOX, "w": 0}]), "at least 1 x 1"),
    ],
)
def test_malformed(op, why):
    assert why in check_operation(op)
