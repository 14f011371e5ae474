"""A small real case for evidence tests, made by the real relay over TLS.

Two reports near Preston (one with a JPEG, one whose text holds HTML), a third far away,
a chat both ways on the first, an incident both Preston reports are linked to, and an
alert for that incident that was sent, updated, then cancelled.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from backend_client import messages as m
from tests.conftest import start_relay
from tests.support.flows import alert_info, device, officer, report
from tests.support.peer import next_id

HTML_TEXT = '<script>alert("x")</script><b>bold</b> & "quoted"'


@dataclass(frozen=True)
class Case:
    data_dir: Path
    photo: bytes
    photo_sha: str
    incident_ref: str
    reports: tuple[str, str]  # the two linked to the incident (photo, html)
    far_report: str
    alert_id: str


def _photo() -> bytes:
    im = Image.new("RGB", (24, 24), (200, 40, 90))
    buf = io.BytesIO()
    im.save(buf, "JPEG")
    return buf.getvalue()


async def _make(data_dir: Path) -> Case:
    r = await start_relay(data_dir)
    try:
        off = await officer(r, "dana")
        cit, _ = await device(r)
        photo = _photo()
        sha = hashlib.sha256(photo).hexdigest()
        decl = m.MediaDecl(sha256=sha, mime="image/jpeg", size=len(photo))
        one = await report(cit, "Two men trying door handles on Elm Road", media=[decl])
        done = await cit.request(
            m.MediaChunk(id=next_id(), report_id=one.report_id, sha256=sha, offset=0, data=photo)
        )
        assert isinstance(done, m.MediaProgress) and done.complete, done
        two = await report(cit, HTML_TEXT)
        far = await report(cit, "Fly tipping far away", lat=51.5, lon=-0.12)
        sent = await cit.request(
            m.CitizenChatSend(
                id=next_id(), report_id=one.report_id, text="They ran off", client_ref=next_id()
            )
        )
        assert isinstance(sent, m.ChatSent), sent
        reply = await off.request(
            m.OfficerChatSend(
                id=next_id(), idem=next_id(), report_id=one.report_id, text="Officers on the way"
            )
        )
        assert not isinstance(reply, m.Error), reply
        inc = await off.request(m.IncidentCreate(id=next_id(), idem=next_id(), title="Op Elm"))
        assert isinstance(inc, m.IncidentCreated), inc
        for rid in (one.report_id, two.report_id):
            ok = await off.request(
                m.ReportLink(
                    id=next_id(), idem=next_id(), report_id=rid, incident_ref=inc.incident_ref
                )
            )
            assert isinstance(ok, m.Ack), ok
        acc = await off.request(
            m.AlertSend(
                id=next_id(), idem=next_id(), info=alert_info(incident_ref=inc.incident_ref)
            )
        )
        assert isinstance(acc, m.AlertAccepted), acc
        aid = acc.alert.alert_id
        upd = await off.request(
            m.AlertUpdate(
                id=next_id(),
                idem=next_id(),
                alert_id=aid,
                info=alert_info(incident_ref=inc.incident_ref, headline="Burglaries: update"),
            )
        )
        assert isinstance(upd, m.AlertAccepted), upd
        gone = await off.request(m.AlertCancel(id=next_id(), idem=next_id(), alert_id=aid))
        assert isinstance(gone, m.AlertAccepted), gone
        await off.close()
        await cit.close()
    finally:
        await r.relay.stop()  # type: ignore[attr-defined]
    return Case(
        data_dir, photo, sha, inc.incident_ref, (one.report_id, two.report_id), far.report_id, aid
    )


def make_case(data_dir: Path) -> Case:
    return asyncio.run(_make(data_dir))


def export(case: Case, out_dir: Path, reason: str = "review") -> Path:
    """The case's incident exported with the real `lookout-relay evidence export`."""
    from relay import cli as relay_cli

    out = out_dir / "elm.lookout-evidence"
    argv = ["evidence", "export", "--data-dir", str(case.data_dir), "--out", str(out)]
    assert relay_cli.main([*argv, "--reason", reason, "--incident", case.incident_ref]) == 0
    return out


def signer(data_dir: Path) -> str:
    """The fingerprint of the relay key that signs packages made from `data_dir`."""
    from relay import checkpoints

    return checkpoints.fingerprint(checkpoints.relay_key(data_dir).public_key())
