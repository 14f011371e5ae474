"""The sans-I/O protocol: raw strings in, items out; requests in, text out. No network.

As websockets' `tests/test_protocol.py` does, every test feeds the protocol the exact
text a relay would send and checks what it makes of it, so the rules the console, the
simulator and the test peer share are proved once without a socket.
"""

from __future__ import annotations

import json

import pytest

from backend_client import codec
from backend_client import messages as m
from backend_client.errors import ErrorCode, ProtocolError
from backend_client.limits import MAX_FRAME_BYTES
from backend_client.protocol import (
    RESUME_MARGIN_S,
    CitizenProtocol,
    ClientProtocol,
    Event,
    Garbled,
    OfficerProtocol,
    Push,
    Rejected,
    Reply,
    SeqFilter,
    Unmatched,
    login_instead,
    should_resume,
)
from backend_client.state import IllegalTransition, Phase


def auth_ok(re: str, token: str = "tok") -> str:
    return (
        f'{{"type":"auth.ok","re":"{re}","token":"{token}","expires_at":2000.0,'
        '"username":"dana","role":"dispatcher"}'
    )


def incident(seq: int) -> str:
    return (
        f'{{"type":"incident.opened","seq":{seq},"at":1.0,"incident_ref":"INC-{seq}",'
        '"title":"Burglaries","by":"dana"}'
    )


def phase(p: OfficerProtocol) -> Phase:
    """Read the phase afresh (an `assert p.phase is X` would narrow it for type checkers)."""
    return p.phase


def sent(text: str) -> dict[str, object]:
    """What went on the wire, as the relay's decoder reads it."""
    codec.officer_inbound.decode(text)  # the relay accepts it
    out: dict[str, object] = json.loads(text)
    return out


def live(last_seq: int = 0) -> OfficerProtocol:
    """An officer protocol through login and subscribe, with no replay."""
    p = OfficerProtocol(last_seq=last_seq)
    p.connection_made()
    rid, _ = p.login("dana", "pw", "123456")
    p.receive(auth_ok(rid))
    rid, _ = p.subscribe()
    p.receive(f'{{"type":"subscribed","re":"{rid}","head":{last_seq}}}')
    assert phase(p) is Phase.LIVE
    return p


# ---------------------------------------------------------------- requests and replies


def test_requests_get_fresh_ids_and_the_text_the_relay_reads() -> None:
    p = live()
    r1, t1 = p.send_request(m.Ping(id="caller-chose-this", t=1.0))
    r2, t2 = p.send_request(m.Ping(id="caller-chose-this", t=2.0))
    assert r1 != r2 and "caller-chose-this" not in (r1, r2)
    assert sent(t1) == {"type": "ping", "v": 1, "id": r1, "t": 1.0}
    assert sent(t2)["id"] == r2
    assert set(p.pending) == {r1, r2}


def test_replies_are_matched_to_their_request_whatever_the_order() -> None:
    p = live()
    ping_rid, _ = p.send_request(m.Ping(id="", t=1.0))
    read_rid, _ = p.send_request(m.OfficerChatRead(id="", message_ids=["msg_1"]))
    [ack] = p.receive(f'{{"type":"ack","re":"{read_rid}"}}')
    [pong] = p.receive(f'{{"type":"pong","re":"{ping_rid}","t":1.0}}')
    assert isinstance(ack, Reply) and ack.rid == read_rid and isinstance(ack.msg, m.Ack)
    assert isinstance(ack.request, m.OfficerChatRead) and ack.request.message_ids == ["msg_1"]
    assert isinstance(pong, Reply) and pong.rid == ping_rid and isinstance(pong.msg, m.Pong)
    assert isinstance(pong.request, m.Ping)
    assert p.pending == {}


def test_a_reply_to_an_unknown_request_is_reported_not_matched() -> None:
    p = live()
    rid, _ = p.send_request(m.Ping(id=""))
    [item] = p.receive('{"type":"pong","re":"nobody-sent-this","t":0.0}')
    assert isinstance(item, Unmatched) and isinstance(item.msg, m.Pong)
    assert "nobody-sent-this" in item.reason
    assert rid in p.pending  # the real request still waits for its own reply


def test_a_second_reply_to_the_same_request_is_unmatched() -> None:
    p = live()
    rid, _ = p.send_request(m.Ping(id=""))
    [first] = p.receive(f'{{"type":"pong","re":"{rid}"}}')
    [second] = p.receive(f'{{"type":"pong","re":"{rid}"}}')
    assert isinstance(first, Reply) and isinstance(second, Unmatched)


def test_a_reply_after_the_waiter_gave_up_is_unmatched() -> None:
    p = live()
    rid, _ = p.send_request(m.Ping(id=""))
    p.forget(rid)
    assert p.pending == {}
    [late] = p.receive(f'{{"type":"pong","re":"{rid}"}}')
    assert isinstance(late, Unmatched)


def test_an_error_for_a_request_rejects_that_request() -> None:
    p = live()
    rid, _ = p.send_request(m.ReportClaim(id="", idem="k1", report_id="rep_1"))
    other, _ = p.send_request(m.Ping(id=""))
    [item] = p.receive(f'{{"type":"error","code":"conflict","message":"claimed","re":"{rid}"}}')
    assert isinstance(item, Rejected) and item.rid == rid
    assert isinstance(item.request, m.ReportClaim) and item.error.code == "conflict"
    exc = item.exception()
    assert isinstance(exc, ProtocolError)
    assert exc.code is ErrorCode.CONFLICT and exc.message == "claimed"
    assert set(p.pending) == {other}


def test_an_error_code_this_client_does_not_know_counts_as_the_relays_fault() -> None:
    p = live()
    rid, _ = p.send_request(m.Ping(id=""))
    [item] = p.receive(f'{{"type":"error","code":"from_the_future","message":"?","re":"{rid}"}}')
    assert isinstance(item, Rejected) and item.exception().code is ErrorCode.INTERNAL


def test_an_error_without_re_is_unmatched_and_leaves_requests_pending() -> None:
    p = live()
    rid, _ = p.send_request(m.Ping(id=""))
    [item] = p.receive('{"type":"error","code":"malformed","message":"frame is not JSON"}')
    assert isinstance(item, Unmatched) and isinstance(item.msg, m.Error)
    assert "id" in item.reason
    assert rid in p.pending


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("this is not json", ErrorCode.MALFORMED),
        ("[1, 2, 3]", ErrorCode.MALFORMED),
        ('{"re":"c1"}', ErrorCode.MALFORMED),  # no type
        ('{"type":"no.such.thing","re":"c1"}', ErrorCode.UNKNOWN_TYPE),
        ('{"type":"report.submit","id":"x"}', ErrorCode.UNKNOWN_TYPE),  # a citizen frame
        ('{"type":"pong"}', ErrorCode.MALFORMED),  # a reply without re
        ('{"type":"ack","re":"c1","v":2}', ErrorCode.UNSUPPORTED_VERSION),
        (b'{"type":"ack","re":"\xff"}', ErrorCode.MALFORMED),  # not UTF-8
        ('{"type":"ack","re":"' + "x" * MAX_FRAME_BYTES + '"}', ErrorCode.TOO_LARGE),
    ],
)
def test_a_garbled_frame_is_reported_and_changes_nothing(
    frame: str | bytes, code: ErrorCode
) -> None:
    p = live()
    rid, _ = p.send_request(m.Ping(id=""))
    [item] = p.receive(frame)
    assert isinstance(item, Garbled) and item.error.code is code
    assert len(item.frame) <= 200
    assert set(p.pending) == {rid}
    [ok] = p.receive(f'{{"type":"pong","re":"{rid}"}}')  # and the connection carries on
    assert isinstance(ok, Reply)


def test_only_requests_can_be_sent() -> None:
    with pytest.raises(TypeError, match="no id"):
        live().send_request(m.Ack(re="c1"))


# ---------------------------------------------------------------- the seq filter


def test_seq_filter_lets_each_seq_through_once_and_never_backwards() -> None:
    f = SeqFilter(last=5)
    assert [s for s in (3, 5, 6, 6, 7, 4, 9) if f.admit(s)] == [6, 7, 9]
    assert f.last == 9 and f.dropped == 4


def test_events_repeated_or_going_back_are_dropped() -> None:
    p = live(last_seq=10)
    out = [item for seq in (11, 12, 12, 10, 9, 13) for item in p.receive(incident(seq))]
    assert all(isinstance(e, Event) for e in out)
    assert [e.seq for e in out if isinstance(e, Event)] == [11, 12, 13]
    assert isinstance(out[0], Event) and isinstance(out[0].msg, m.IncidentOpened)
    assert out[0].msg.incident_ref == "INC-11"
    assert p.seq.last == 13 and p.seq.dropped == 3


def test_the_core_passes_every_event_through_for_a_test_peer() -> None:
    p = ClientProtocol(codec.officer_outbound)
    seqs = [
        item.seq for s in (4, 4, 3) for item in p.receive(incident(s)) if isinstance(item, Event)
    ]
    assert seqs == [4, 4, 3]


# ---------------------------------------------------------------- the officer sequence


def test_the_connection_sequence_step_by_step() -> None:
    p = OfficerProtocol(last_seq=41)
    assert phase(p) is Phase.CLOSED
    p.connection_made()
    assert phase(p) is Phase.AUTHENTICATING
    with pytest.raises(IllegalTransition, match="subscribe is not possible while authenticating"):
        p.subscribe()

    rid, text = p.login("dana", "pw", "123456")
    assert sent(text) == {
        "type": "auth.login",
        "v": 1,
        "id": rid,
        "username": "dana",
        "password": "pw",
        "totp": "123456",
    }
    assert phase(p) is Phase.AUTHENTICATING
    [ok] = p.receive(auth_ok(rid, token="tok_1"))
    assert isinstance(ok, Reply) and isinstance(ok.msg, m.AuthOk) and ok.msg.token == "tok_1"
    assert phase(p) is Phase.AUTHENTICATED

    rid, text = p.subscribe()
    assert sent(text) == {
        "type": "subscribe",
        "v": 1,
        "id": rid,
        "since": 41,
        "exclude_exercise": False,
        "epoch": None,  # none known yet: the relay checks since alone
    }
    assert phase(p) is Phase.REPLAYING
    replay = [item for s in (42, 43) for item in p.receive(incident(s))]
    assert [e.seq for e in replay if isinstance(e, Event)] == [42, 43]
    assert phase(p) is Phase.REPLAYING  # events alone do not make the link live
    [done] = p.receive(f'{{"type":"subscribed","re":"{rid}","head":43}}')
    assert isinstance(done, Reply) and isinstance(done.msg, m.Subscribed) and done.msg.head == 43
    assert phase(p) is Phase.LIVE
    [live_event] = p.receive(incident(44))
    assert isinstance(live_event, Event) and live_event.seq == 44


def test_a_resume_that_works_skips_the_login() -> None:
    p = OfficerProtocol()
    p.connection_made()
    rid, text = p.resume("tok_1")
    assert sent(text) == {"type": "auth.resume", "v": 1, "id": rid, "token": "tok_1"}
    p.receive(auth_ok(rid, token="tok_1"))
    assert phase(p) is Phase.AUTHENTICATED


def test_a_refused_resume_leaves_room_for_a_login() -> None:
    p = OfficerProtocol()
    p.connection_made()
    rid, _ = p.resume("tok_old")
    [no] = p.receive(f'{{"type":"error","code":"token_expired","message":"expired","re":"{rid}"}}')
    assert isinstance(no, Rejected) and login_instead(no.exception())
    assert phase(p) is Phase.AUTHENTICATING
    rid, _ = p.login("dana", "pw", "123456")
    p.receive(auth_ok(rid))
    assert phase(p) is Phase.AUTHENTICATED


@pytest.mark.parametrize(
    ("code", "login"),
    [
        (ErrorCode.TOKEN_EXPIRED, True),
        (ErrorCode.BAD_CREDENTIALS, True),
        (ErrorCode.RATE_LIMITED, False),  # a login would be limited too: back off
        (ErrorCode.ACCOUNT_DISABLED, False),  # a login cannot fix that
        (ErrorCode.INTERNAL, False),
    ],
)
def test_which_refused_resumes_a_login_can_fix(code: ErrorCode, login: bool) -> None:
    assert login_instead(ProtocolError(code, "x")) is login


def test_resume_only_with_a_token_that_outlives_the_handshake() -> None:
    assert should_resume("tok", expires_at=1000.0, now=1000.0 - RESUME_MARGIN_S - 0.1)
    assert not should_resume("tok", expires_at=1000.0, now=1000.0 - RESUME_MARGIN_S)
    assert not should_resume("tok", expires_at=1000.0, now=2000.0)
    assert not should_resume(None, expires_at=1000.0, now=0.0)
    assert not should_resume("", expires_at=1000.0, now=0.0)


def test_a_refresh_while_live_does_not_move_the_phase() -> None:
    p = live()
    rid, _ = p.send_request(m.Refresh(id=""))
    [ok] = p.receive(auth_ok(rid, token="tok_2"))
    assert isinstance(ok, Reply) and isinstance(ok.request, m.Refresh)
    assert phase(p) is Phase.LIVE


@pytest.mark.parametrize(
    "msg",
    [
        m.Login(id="", username="dana", password="pw", totp="123456"),
        m.Resume(id="", token="t"),
        m.Subscribe(id="", since=0),
    ],
)
def test_the_sequence_requests_go_only_through_their_steps(msg: m.Msg) -> None:
    with pytest.raises(TypeError, match=r"login\(\), resume\(\) or subscribe\(\)"):
        live().send_request(msg)
    rid, _ = ClientProtocol(codec.officer_outbound).send_request(msg)  # a test peer may
    assert rid


def test_steps_out_of_order_raise() -> None:
    p = OfficerProtocol()
    with pytest.raises(IllegalTransition):
        p.login("dana", "pw", "123456")  # no socket yet
    p.connection_made()
    with pytest.raises(IllegalTransition):
        p.connection_made()  # twice without losing the first
    live_p = live()
    with pytest.raises(IllegalTransition):
        live_p.resume("tok")  # already authenticated on this socket
    with pytest.raises(IllegalTransition):
        live_p.subscribe()  # already subscribed


def test_after_a_drop_events_not_yet_confirmed_are_replayed_and_let_through() -> None:
    p = live(last_seq=10)
    for s in (11, 12, 13):
        p.receive(incident(s))
    p.confirm(11)  # 11 is durable; 12 and 13 arrived but the link dropped before they were
    waiting, _ = p.send_request(m.Ping(id=""))
    assert p.connection_lost() == [waiting]  # the I/O layer fails this waiter
    assert phase(p) is Phase.CLOSED and p.pending == {}
    [late] = p.receive(f'{{"type":"pong","re":"{waiting}"}}')
    assert isinstance(late, Unmatched)

    p.connection_made()
    rid, _ = p.resume("tok")
    p.receive(auth_ok(rid))
    rid, text = p.subscribe()
    assert sent(text)["since"] == 11
    replay = [item for s in (11, 12, 13, 14) for item in p.receive(incident(s))]
    assert [e.seq for e in replay if isinstance(e, Event)] == [12, 13, 14]  # 11 not twice


def test_confirm_never_moves_the_resume_point_back() -> None:
    p = OfficerProtocol(last_seq=7)
    p.confirm(9)
    p.confirm(8)
    assert p.last_seq == 9


# ---------------------------------------------------------------- the citizen side


def test_a_phone_gets_its_replies_matched_and_pushes_as_pushes() -> None:
    p = CitizenProtocol()
    rid, text = p.send_request(m.DeviceRegister(id="", platform="sim"))
    assert codec.citizen_inbound.decode(text) == m.DeviceRegister(id=rid, platform="sim")
    [status] = p.receive('{"type":"chat.status","message_id":"msg_1","status":"read"}')
    assert isinstance(status, Push) and isinstance(status.msg, m.ChatStatusUpdate)
    chat = codec.encode_text(
        m.ChatDeliver(
            message=m.ChatMessage(
                message_id="msg_2",
                report_id="rep_1",
                sender="officer",
                author="dana",
                text="On our way",
                sent_at=1.0,
                status="sent",
            )
        )
    )
    [push] = p.receive(chat)
    assert isinstance(push, Push) and isinstance(push.msg, m.ChatDeliver)
    assert rid in p.pending  # pushes answer nothing
    [reg] = p.receive(
        f'{{"type":"device.registered","re":"{rid}","device_id":"D1","secret":"s",'
        '"pseudonym":"Blue Fox"}'
    )
    assert isinstance(reg, Reply) and isinstance(reg.msg, m.DeviceRegistered)
    [wrong_side] = p.receive(auth_ok("c1"))  # an officer frame on the citizen endpoint
    assert isinstance(wrong_side, Garbled) and wrong_side.error.code is ErrorCode.UNKNOWN_TYPE
