"""The portal's alert and location code against the contract it speaks: the location
lifetime it tells citizens, the CAP statuses it tells apart, the push it listens for."""

from __future__ import annotations

import re
from typing import get_args

from backend_client import limits
from backend_client import messages as m
from relay.portal import PORTAL_ROOT

JS = PORTAL_ROOT / "js"


def js_const(name: str) -> str:
    found = re.search(rf"export const {name} = ([^;]+);", (JS / "protocol.js").read_text("utf-8"))
    assert found, name
    return found.group(1)


def test_the_location_lifetime_told_to_citizens_is_the_relays() -> None:
    assert int(js_const("LOCATION_TTL_S")) == limits.LOCATION_TTL_S
    assert "LOCATION_TTL_S" in (JS / "location.js").read_text("utf-8")


def test_the_cap_statuses_are_the_protocols() -> None:
    assert re.findall(r'"([^"]+)"', js_const("CAP_STATUSES")) == list(get_args(m.CapStatus))
    assert "status" in m.CitizenAlert.__struct_fields__


def test_the_page_listens_for_the_alert_push_and_answers_with_its_ack() -> None:
    live = (JS / "live.js").read_text("utf-8")
    assert f'link.on("{m.AlertDeliver.__struct_config__.tag}"' in live
    assert f'type: "{m.AlertAck.__struct_config__.tag}"' in live
    location = (JS / "location.js").read_text("utf-8")
    assert f'type: "{m.LocationUpdate.__struct_config__.tag}"' in location
