"""A realistic case to try the analyst's workspace on (and the one docs/guide-analyst.md shows).

    python -m demo.evidence_case --out DIR [--seed 7]

Three weeks of a burglary and vehicle-crime series in Preston (9 to 29 November 2026):
about ninety reports from thirty pseudonymous phones at the hours people report such
things (evenings, and mornings when a forced door or a smashed car window is found),
photos with EXIF and a GPS position as phones take them, chat between the control room
and reporters, two incidents the reports are linked to, a burglary alert that was later
updated to a wider area, a vehicle-crime alert, and the officers' claims, links, status
changes and closures in the hash-chained audit log, minutes to hours after each report.

It is written into a fresh relay data directory (DIR/relay) by the relay's own write jobs
(relay/reports.py, relay/alerts.py, relay/media.py), each run at the moment the case says
it happened, then exported with the relay's own export (`relay.evidence.export`, as
`lookout-relay evidence export` does) to DIR/op-mardle.lookout-evidence. It prints the
package's path and the fingerprint to pin. The same seed gives the same case (texts,
times, places, photos); the ids and the signing key are new each time, as a relay makes
them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import secrets
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from backend_client import messages as m
from backend_client import rules
from demo import evidence_photos as photos
from relay import accounts, admin, alerts, checkpoints, evidence, reports, targeting
from relay import incidents as incident_jobs
from relay.db import models as db
from relay.db.uow import AUDIT_LOCK, Database, Tx, lock_audit_head
from relay.media import MediaStore
from relay.reports import Actor
from relay.secret_box import SecretBox, key_path

R = TypeVar("R")

PRESTON = (53.759, -2.699)
#: Monday 9 November 2026, 00:00 UTC (GMT: Preston's clock in November)
START = datetime(2026, 11, 9, tzinfo=UTC).timestamp()
DAYS = 21
END = START + DAYS * 86400.0
PACKAGE_NAME = "op-mardle.lookout-evidence"
REASON = "Op Mardle case review: burglary and vehicle crime series, Preston, 9-29 Nov 2026"
_HOUR = 3600.0
_MIN = 60.0

# ------------------------------------------------------------------ places and people

#: the series' three areas: centre (lat, lon), spread (metres), streets
_ZONES: dict[str, tuple[tuple[float, float], float, tuple[str, ...]]] = {
    "student": (
        (53.7655, -2.7075),
        420.0,
        (
            "Adelphi Street",
            "Moor Lane",
            "Fylde Road",
            "Maudland Bank",
            "Victoria Street",
            "Hope Street",
            "Kendal Street",
            "Brook Street",
            "Aqueduct Street",
            "Plungington Road",
        ),
    ),
    "deepdale": (
        (53.7705, -2.6860),
        520.0,
        (
            "Deepdale Road",
            "Skeffington Road",
            "St Gregory Road",
            "Ribbleton Lane",
            "Meadow Street",
            "St Paul's Road",
            "Blackpool Road",
        ),
    ),
    "centre": (
        (53.7590, -2.6990),
        380.0,
        (
            "Friargate",
            "Fishergate",
            "Church Street",
            "Lancaster Road",
            "Avenham Lane",
            "Guildhall Street",
            "Corporation Street",
        ),
    ),
}

#: category: (reports, {zone: weight}, hour weights 0..23)
_EVENING = [2, 2, 1, 1, 0, 0, 1, 3, 4, 3, 2, 2, 2, 2, 2, 3, 4, 6, 8, 9, 9, 8, 6, 4]
_MORNING = [2, 2, 2, 1, 1, 2, 5, 8, 8, 5, 3, 2, 2, 2, 2, 2, 3, 4, 5, 6, 6, 5, 4, 3]
_NIGHT = [4, 3, 2, 1, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4, 6, 8, 9, 9, 8, 6]
_DAY = [0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 4, 4, 4, 4, 4, 4, 4, 4, 3, 3, 2, 1, 1, 0]
_CATEGORIES: dict[str, tuple[int, dict[str, float], list[int]]] = {
    "burglary": (32, {"student": 0.75, "deepdale": 0.25}, _EVENING),
    "vehicle": (30, {"deepdale": 0.6, "student": 0.25, "centre": 0.15}, _MORNING),
    "cycle": (8, {"student": 0.6, "centre": 0.4}, _EVENING),
    "antisocial": (10, {"centre": 0.7, "deepdale": 0.3}, _NIGHT),
    "drugs": (5, {"centre": 0.6, "deepdale": 0.4}, _NIGHT),
    "fly_tipping": (4, {"deepdale": 1.0}, _DAY),
    "other": (3, {"student": 0.5, "deepdale": 0.5}, _DAY),
}

#: what people write, by category and by what they are telling: it is happening now,
#: they found it afterwards, or they saw something suspicious
_TEXTS: dict[str, dict[str, tuple[str, ...]]] = {
    "burglary": {
        "now": (
            "Two lads in dark hoodies trying door handles along {street}, one has a torch. "
            "Still here now.",
            "Someone is in the house next door on {street}, they're away for reading week. "
            "I can hear glass breaking.",
            "Alarm going off at {n} {street} and a man ran off towards {street2} carrying a "
            "holdall.",
        ),
        "found": (
            "Came home from lectures to find the back door of {n} {street} forced. Laptop "
            "and two games consoles gone. Housemates are all OK.",
            "Our kitchen window on {street} has been smashed and someone has been through "
            "the downstairs rooms. Noticed it when I got up.",
            "Back from the weekend: front door lock snapped at our house on {street}. Bikes "
            "and a TV taken.",
            "Back gate on {street} open and the shed padlock cut. Bike and tools missing.",
        ),
        "seen": (
            "Grey hatchback driving slowly up and down {street} for half an hour, two men "
            "looking at the houses.",
            "Man looking through the front windows on {street}, then walked into the alley "
            "behind the terrace.",
        ),
    },
    "vehicle": {
        "now": (
            "Three youths trying car doors along {street} right now, one has a screwdriver.",
            "Someone underneath a car on {street} with a grinder, sparks everywhere.",
        ),
        "found": (
            "Rear window of my car smashed overnight on {street}. Sat nav and a bag of work "
            "tools taken.",
            "Catalytic converter cut off my Honda parked on {street}. Neighbour heard an "
            "angle grinder at about 3am.",
            "Both number plates stolen off my van outside {n} {street}.",
            "Passenger window put through on {street} and the glovebox emptied. Third car on "
            "this road this month.",
        ),
        "seen": (
            "White van with no plates parked on {street} all evening, two men checking the "
            "cars nearby.",
        ),
    },
    "cycle": {
        "found": (
            "Bike stolen from the rack on {street}, the lock was cut. Black Carrera mountain bike.",
            "D-lock cut on my bike on {street}, only the front wheel left.",
        ),
    },
    "antisocial": {
        "now": (
            "Group of about ten on {street} shouting and throwing bottles at cars.",
            "Fireworks being aimed at passing buses on {street}.",
            "Youths kicking the bus shelter on {street}, glass everywhere.",
        ),
    },
    "drugs": {
        "seen": (
            "Lots of short visits to the flat above the shop on {street}: cars pull up for "
            "two minutes and leave.",
            "People dealing from a silver car in the car park off {street}, every night this week.",
        ),
    },
    "fly_tipping": {
        "found": (
            "Mattresses, bin bags and a fridge dumped in the alley behind {street}.",
            "Builders' rubble and a sofa tipped at the end of {street}.",
        ),
    },
    "other": {
        "seen": (
            "Man going door to door on {street} saying he is from the water board, asked to "
            "come in and showed no ID.",
        ),
    },
}

_ASK = (
    "Thanks for letting us know. Is anyone hurt, and are you somewhere safe now?",
    "Thanks for the report. Can you describe the people you saw: height, clothing, which "
    "way they went?",
    "Officers are aware. Please don't touch the door or window until forensics have been; "
    "they will ring to arrange a visit.",
    "Thanks. Do you have any doorbell or dashcam footage? You can attach a still to this report.",
)
_ANSWER = (
    "We're all fine, just shaken. Staying at a friend's tonight.",
    "One was tall, about 6ft, black North Face jacket; the other shorter in a grey hoodie. "
    "They went towards {street2}.",
    "OK, thanks. We'll leave everything as it is.",
    "The camera only caught the back of them, sorry. They were on foot.",
)
_CLOSE = (
    "Thanks, that's really helpful. This is now part of an ongoing investigation, "
    "reference {incident}.",
    "A crime reference has been issued. Victim Support will contact you in the next few days.",
    "Thank you. Officers will be patrolling the area over the next few nights.",
)
_THANKS = (
    "Thank you for getting back so quickly.",
    "Thanks, appreciated.",
)
#: a citizen pasting text from a listing site: markup the workspace must show as text
HOSTILE = "<img src=x onerror=alert(1)>"

_OFFICERS = (
    ("jwalsh", "dispatcher"),
    ("dhughes", "dispatcher"),
    ("spatel", "dispatcher"),
    ("kbrennan", "dispatcher"),
    ("sgt.okafor", "supervisor"),
)
SUPERVISOR = "sgt.okafor"
_PHONES = (
    ("Samsung", "SM-A546B"),
    ("Apple", "iPhone 13"),
    ("Google", "Pixel 7a"),
    ("Apple", "iPhone SE"),
    ("Motorola", "moto g54"),
)


def on_shift(t: float) -> str:
    """The dispatcher working at `t`: days 06-14, lates 14-22 (two who alternate), nights."""
    hour = int((t % 86400) // 3600)
    day = int((t - START) // 86400)
    if 6 <= hour < 14:
        return "jwalsh"
    if 14 <= hour < 22:
        return "dhughes" if day % 2 == 0 else "spatel"
    return "kbrennan"


# ------------------------------------------------------------------ the relay's writer


class _Writer:
    """The relay's own write jobs, run one after another at the case's times: what the
    writer thread of relay/db/uow.py does for a batch (one transaction, audit head read
    under the audit lock, events appended with their seq), with the case's clock instead
    of the wall clock."""

    def __init__(self, s: Session) -> None:
        self.s = s
        if s.get(db.Counter, AUDIT_LOCK) is None:
            s.add(db.Counter(name=AUDIT_LOCK, value=0))
            s.flush()
        self._next_seq = int(s.scalar(select(func.max(db.Event.seq))) or 0) + 1
        self._audit_head = lock_audit_head(s)

    def run(self, at: float, job: Callable[[Tx], R]) -> R:
        tx = Tx(s=self.s, now=at, _db=cast(Database, self))  # Tx reads only the two fields
        out = job(tx)
        if tx.events:
            self.s.execute(
                insert(db.Event),
                [{"seq": seq, "at": at, "frame": f.decode("utf-8")} for seq, f in tx.events],
            )
        return out

    def audit(self, at: float, actor: str, action: str, subject: str, **detail: object) -> None:
        self.run(at, lambda tx: tx.audit(actor, action, subject, **detail))


_ids = iter(range(1, 1 << 62))


def _rid() -> str:
    return f"demo-{next(_ids)}"


# ------------------------------------------------------------------ the plan


@dataclass
class _Planned:
    """One report of the case and everything that happens to it."""

    at: float
    category: str
    mode: str
    zone: str
    lat: float
    lon: float
    text: str
    device: int  # index into the reporter phones
    photos: list[tuple[str, bytes]] = field(default_factory=list)  # (mime, bytes)
    public_id: str = ""
    pk: int = 0


@dataclass(frozen=True)
class Case:
    """What was built: where, what to pin, and a few items the screenshots and tests use."""

    data_dir: Path
    package: Path
    fingerprint: str
    counts: dict[str, int]
    incidents: tuple[str, ...]
    #: the burglary alert, sent then updated to a wider area (two CAP versions)
    updated_alert: str
    #: a report whose photo is a street scene with a car's plate and a face (EXIF, GPS)
    photo_report: str
    #: the report whose chat holds HOSTILE
    hostile_report: str
    first_report_at: float
    last_report_at: float


def _point(rng: random.Random, zone: str) -> tuple[float, float]:
    (lat0, lon0), spread, _ = _ZONES[zone]
    north = rng.gauss(0, spread / 1.6)
    east = rng.gauss(0, spread / 1.6)
    lat = lat0 + north / 111_320.0
    lon = lon0 + east / (111_320.0 * math.cos(math.radians(lat0)))
    return round(lat, 6), round(lon, 6)


def _mode_for(rng: random.Random, category: str, hour: int) -> str:
    modes = list(_TEXTS[category])
    if len(modes) == 1:
        return modes[0]
    if 6 <= hour <= 11 and "found" in modes:
        return "found" if rng.random() < 0.85 else rng.choice(modes)
    if (hour >= 22 or hour < 5) and "now" in modes:
        return "now" if rng.random() < 0.7 else rng.choice(modes)
    return rng.choice(modes)


def _when(rng: random.Random, hours: list[int]) -> float:
    """A time in the three weeks: the series builds up and tails off (a bell over the days),
    the hour from the category's weights, weekends a little busier in the evening."""
    day = min(DAYS - 1, max(0, int(rng.triangular(0, DAYS, DAYS * 0.45))))
    hour = rng.choices(range(24), weights=hours)[0]
    return START + day * 86400.0 + hour * _HOUR + rng.uniform(0, _HOUR)


def _plan_reports(rng: random.Random, phones: int) -> list[_Planned]:
    homes = [rng.choices(list(_ZONES), weights=[0.5, 0.35, 0.15])[0] for _ in range(phones)]
    planned = []
    for category, (count, zones, hours) in _CATEGORIES.items():
        for _ in range(count):
            zone = rng.choices(list(zones), weights=list(zones.values()))[0]
            at = _when(rng, hours)
            mode = _mode_for(rng, category, int((at % 86400) // 3600))
            streets = _ZONES[zone][2]
            street, street2 = rng.sample(streets, 2)
            text = rng.choice(_TEXTS[category][mode]).format(
                street=street, street2=street2, n=rng.randint(2, 160)
            )
            lat, lon = _point(rng, zone)
            local = [i for i, h in enumerate(homes) if h == zone] or list(range(phones))
            # most people report once or twice; a few neighbours keep reporting
            device = rng.choice(local[:3]) if rng.random() < 0.2 else rng.choice(local)
            planned.append(_Planned(at, category, mode, zone, lat, lon, text, device))
    planned.sort(key=lambda p: p.at)
    return planned


def _add_photos(rng: random.Random, planned: list[_Planned]) -> None:
    """Photos on about one report in six, the kind each would plausibly carry."""
    for p in planned:
        phone = _PHONES[p.device % len(_PHONES)]
        taken = p.at - rng.uniform(60, 900)
        glat = p.lat + rng.uniform(-4e-5, 4e-5)
        glon = p.lon + rng.uniform(-4e-5, 4e-5)
        if p.category == "vehicle" and p.mode == "found" and rng.random() < 0.45:
            street = photos.street_photo(rng, photos.plate(rng), night=False, broken=True)
            p.photos.append(("image/jpeg", photos.jpeg_with_exif(street, glat, glon, taken, phone)))
        elif p.category == "burglary" and p.mode == "found" and rng.random() < 0.45:
            door = photos.damage_photo(rng)
            p.photos.append(("image/jpeg", photos.jpeg_with_exif(door, glat, glon, taken, phone)))
            if rng.random() < 0.5:  # and the doorbell camera's still (a screenshot: PNG)
                p.photos.append(
                    ("image/png", photos.png(photos.doorbell_frame(rng, p.at - 3 * _HOUR)))
                )
        elif p.category == "burglary" and p.mode == "seen" and rng.random() < 0.6:
            street = photos.street_photo(rng, photos.plate(rng), night=True, broken=False)
            p.photos.append(("image/jpeg", photos.jpeg_with_exif(street, glat, glon, taken, phone)))
        elif p.category == "fly_tipping" and rng.random() < 0.5:
            p.photos.append(
                (
                    "image/jpeg",
                    photos.jpeg_with_exif(photos.flytip_photo(rng), glat, glon, taken, phone),
                )
            )
    if not any(mime == "image/png" for p in planned for mime, _ in p.photos):
        found = next(p for p in planned if p.category == "burglary" and p.photos)
        found.photos.append(
            ("image/png", photos.png(photos.doorbell_frame(rng, found.at - 3 * _HOUR)))
        )
    # the guide's photo: a night street, a car's plate and a face, GPS in its EXIF
    first = next(p for p in planned if p.category == "burglary" and p.mode == "seen")
    if not first.photos:
        street = photos.street_photo(rng, photos.plate(rng), night=True, broken=False)
        when = first.at - 120.0
        first.photos.append(
            ("image/jpeg", photos.jpeg_with_exif(street, first.lat, first.lon, when, _PHONES[0]))
        )


def _response_delay(rng: random.Random, p: _Planned) -> float:
    """Report to first officer action: minutes when it is happening now, longer at night."""
    hour = int((p.at % 86400) // 3600)
    median = 4 * _MIN if p.mode == "now" else (18 * _MIN if 7 <= hour < 22 else 55 * _MIN)
    return min(10 * _HOUR, max(90.0, median * math.exp(rng.gauss(0, 0.9))))


# ------------------------------------------------------------------ building it


def build(out: Path, seed: int = 7) -> Case:
    """Write the case into `out/relay` (which must not exist yet or be empty) and export it
    to `out/op-mardle.lookout-evidence`."""
    data_dir = out / "relay"
    if data_dir.exists() and any(data_dir.iterdir()):
        raise SystemExit(f"{data_dir} is not empty: give a fresh --out directory")
    rng = random.Random(seed)
    engine = admin.open_engine(data_dir)
    try:
        checkpoints.relay_key(data_dir)
        with Session(engine) as s, s.begin():
            facts = _write_case(s, data_dir, rng)
        package = out / PACKAGE_NAME
        done = evidence.export(
            engine,
            data_dir,
            package,
            reason=REASON,
            selectors=evidence.Selectors(since=START, until=END),
        )
    finally:
        engine.dispose()
    return Case(
        data_dir=data_dir,
        package=package,
        fingerprint=done.fingerprint,
        counts=done.counts,
        **facts,
    )


def _write_case(s: Session, data_dir: Path, rng: random.Random) -> dict[str, Any]:
    w = _Writer(s)
    box = SecretBox.load_or_create(key_path(data_dir))
    officers: dict[str, Actor] = {}
    for name, role in _OFFICERS:  # accounts made a month before the series, as a pilot's
        made = START - 30 * 86400.0 + len(officers) * 300.0
        o = db.Officer(
            username=name,
            role=role,
            password_hash=accounts.hash_password(secrets.token_urlsafe(18)),
            totp_secret=box.seal(accounts.new_totp_secret(), name),
            disabled=False,
            created_at=made,
        )
        s.add(o)
        s.flush()
        officers[name] = Actor(o.id, name, role)
        w.audit(made, "admin", "officer.add", name, role=role)

    phones = 30
    planned = _plan_reports(rng, phones)
    _add_photos(rng, planned)
    index = targeting.DeviceIndex()
    reporter_mask = targeting.category_mask(["burglary", "vehicle", "cycle", "antisocial"])
    devices: list[tuple[int, str]] = []  # (pk, pseudonym) of the reporting phones
    first_report = {p.device: p.at for p in reversed(planned)}
    for i in range(phones + 150):  # 30 who report, and neighbours who only get alerts
        zone = rng.choices(list(_ZONES), weights=[0.45, 0.4, 0.15])[0]
        lat, lon = _point(rng, zone)
        if i < phones:
            mask = reporter_mask
            created = first_report.get(i, START) - rng.uniform(2, 40) * 86400.0
        else:
            cats = [c for c, p in (("burglary", 0.75), ("vehicle", 0.6)) if rng.random() < p]
            mask = targeting.category_mask(cats or ["burglary"])
            created = START - rng.uniform(0, 60) * 86400.0
        pseudonym = rules.new_pseudonym(rng.choice)
        d = db.Device(
            public_id="D" + rng.getrandbits(64).to_bytes(8, "big").hex(),
            secret_hash=hashlib.sha256(secrets.token_bytes(24)).hexdigest(),
            pseudonym=pseudonym,
            platform=rng.choice(["android", "ios", "web portal"]),
            category_mask=mask,
            lat=lat,
            lon=lon,
            fix_expires_at=END + 7 * 86400.0,
            created_at=created,
        )
        s.add(d)
        s.flush()
        index.upsert(d.id, lat, lon, mask, END + 7 * 86400.0)
        if i < phones:
            devices.append((d.id, pseudonym))

    store = MediaStore(data_dir / "media")
    steps: list[tuple[float, int, Callable[[], None]]] = []

    def at(t: float, fn: Callable[[], None]) -> None:
        steps.append((t, len(steps), fn))

    # logins: each shift's dispatcher a few minutes after it starts, the sergeant on weekdays
    for day in range(DAYS):
        base = START + day * 86400.0
        for hour in (6, 14, 22):
            t = base + hour * _HOUR + rng.uniform(2, 12) * _MIN
            name = on_shift(t)
            at(t, partial(w.audit, t, name, "login", name))
        if day % 7 < 5:
            t = base + 8 * _HOUR + rng.uniform(30, 55) * _MIN
            at(t, partial(w.audit, t, SUPERVISOR, "login", SUPERVISOR))

    incidents = {
        "student": (
            START + 3 * 86400 + 10.7 * _HOUR,
            "Op Mardle: burglaries at student houses, Adelphi St / Moor Ln",
        ),
        "deepdale": (
            START + 6 * 86400 + 11.25 * _HOUR,
            "Theft from vehicles, Deepdale and Ribbleton",
        ),
    }
    refs: dict[str, str] = {}

    def open_incident(zone: str) -> None:
        t, title = incidents[zone]
        made = w.run(
            t,
            incident_jobs.create(
                officers[SUPERVISOR], m.IncidentCreate(id=_rid(), idem=_rid(), title=title)
            ),
        )
        refs[zone] = made.incident_ref

    for zone, (t, _title) in incidents.items():
        at(t, partial(open_incident, zone))

    hostile = next(p for p in planned if p.category == "cycle")
    for p in planned:
        _plan_report(p, rng, w, store, officers, devices, refs, incidents, at, p is hostile)
    alert_ids: dict[str, str] = {}
    _plan_alerts(rng, w, officers, index, refs, alert_ids, at)
    steps.sort(key=lambda x: (x[0], x[1]))
    for _t, _n, fn in steps:
        fn()
    photo = next(
        (p for p in planned if p.category == "burglary" and p.mode == "seen" and p.photos),
        next(p for p in planned if p.photos),
    )
    return {
        "incidents": tuple(refs[z] for z in incidents),
        "updated_alert": alert_ids["burglary"],
        "photo_report": photo.public_id,
        "hostile_report": hostile.public_id,
        "first_report_at": planned[0].at,
        "last_report_at": planned[-1].at,
    }


def _incident_zone(p: _Planned) -> str | None:
    """Which incident a report belongs to: the student burglaries, the Deepdale car crime."""
    if p.category == "burglary" and p.zone == "student":
        return "student"
    if p.category == "vehicle" and p.zone == "deepdale":
        return "deepdale"
    return None


_At = Callable[[float, Callable[[], None]], None]


def _plan_report(
    p: _Planned,
    rng: random.Random,
    w: _Writer,
    store: MediaStore,
    officers: dict[str, Actor],
    devices: list[tuple[int, str]],
    refs: dict[str, str],
    incidents: dict[str, tuple[float, str]],
    at: _At,
    hostile: bool,
) -> None:
    """Schedule the report, its media, the officers' handling and any chat."""
    dev_pk, pseudonym = devices[p.device]

    def job(t: float, make: Callable[[], Callable[[Tx], object]]) -> None:
        def run() -> None:
            w.run(t, make())

        at(t, run)

    def submit() -> None:
        decls = [
            m.MediaDecl(sha256=hashlib.sha256(data).hexdigest(), mime=mime, size=len(data))  # type: ignore[arg-type]
            for mime, data in p.photos
        ]
        msg = m.ReportSubmit(
            id=_rid(),
            client_ref=_rid(),
            category=p.category,  # type: ignore[arg-type]
            text=p.text,
            lat=p.lat,
            lon=p.lon,
            media=decls,
        )
        accepted = w.run(p.at, reports.submit_report(dev_pk, pseudonym, msg))
        p.public_id = accepted.report_id
        p.pk = int(w.s.scalar(select(db.Report.id).where(db.Report.public_id == p.public_id)) or 0)

    at(p.at, submit)
    for k, (mime, data) in enumerate(p.photos):  # uploaded in the seconds after the report

        def upload(mime: str = mime, data: bytes = data, k: int = k) -> None:
            sha = hashlib.sha256(data).hexdigest()
            owner = str(p.pk)
            store.write_chunk(sha, len(data), 0, data, owner=owner)
            store.finalize(sha, mime, len(data), owner=owner)
            w.run(p.at + 8.0 + 6.0 * k, reports.media_stored(p.pk, sha))
            store.clear_receipt(sha, owner)

        at(p.at + 8.0 + 6.0 * k, upload)

    zone = _incident_zone(p)
    if zone is not None:  # linked once the incident exists and someone has looked at it
        opened = incidents[zone][0]
        t_link = max(
            p.at + _response_delay(rng, p) + rng.uniform(3, 40) * _MIN,
            opened + rng.uniform(4, 50) * _MIN,
        )
        # the sergeant links the earlier reports as they open the incident; then whoever is on
        linker = officers[SUPERVISOR if t_link - opened < _HOUR else on_shift(t_link)]
        if t_link < END:
            job(
                t_link,
                lambda: incident_jobs.link(
                    linker,
                    m.ReportLink(
                        id=_rid(), idem=_rid(), report_id=p.public_id, incident_ref=refs[zone]
                    ),
                ),
            )
    if not hostile and rng.random() < (0.5 if p.category == "fly_tipping" else 0.05):
        return  # never answered

    t = p.at + _response_delay(rng, p)
    holder = officers[on_shift(t)]
    chat = hostile or rng.random() < (0.55 if p.category in ("burglary", "vehicle") else 0.3)
    t_claim, t_chat = t, t + rng.uniform(2, 15) * _MIN
    if chat and rng.random() < 0.35:  # the reply came first, the claim a minute later
        t_claim, t_chat = t + rng.uniform(40, 120), t
    job(
        t_claim,
        lambda: reports.claim(holder, m.ReportClaim(id=_rid(), idem=_rid(), report_id=p.public_id)),
    )
    if p.mode == "now" and p.category in ("burglary", "vehicle"):
        job(
            t_claim + 20,
            lambda: reports.set_priority(
                holder,
                m.ReportSetPriority(id=_rid(), idem=_rid(), report_id=p.public_id, priority="high"),
            ),
        )
    for k, (_mime, data) in enumerate(p.photos):  # the dispatcher opens the photos
        sha, seen = hashlib.sha256(data).hexdigest(), t_claim + 30 + 10 * k
        at(seen, partial(w.audit, seen, holder.username, "media.view", sha))

    def move(status: str) -> Callable[[], Callable[[Tx], object]]:
        return lambda: reports.set_status(
            holder,
            m.ReportSetStatus(id=_rid(), idem=_rid(), report_id=p.public_id, status=status),  # type: ignore[arg-type]
        )

    last = t_claim
    if chat:
        last = max(
            last, _plan_chat(p, rng, w, holder, dev_pk, pseudonym, t_chat, refs, at, hostile)
        )
    if rng.random() < 0.6:
        t_work = t_claim + rng.uniform(5, 50) * _MIN
        job(t_work, move("in_progress"))
        last = max(last, t_work)
    t_close = last + min(6 * 86400.0, max(30 * _MIN, 16 * _HOUR * math.exp(rng.gauss(0, 1.0))))
    still_open = zone is not None and rng.random() < 0.35  # still being worked on
    if t_close < END - _HOUR and not still_open:
        job(t_close, move("closed"))


def _plan_chat(
    p: _Planned,
    rng: random.Random,
    w: _Writer,
    holder: Actor,
    dev_pk: int,
    pseudonym: str,
    t: float,
    refs: dict[str, str],
    at: _At,
    hostile: bool,
) -> float:
    """A short conversation from `t`: the officer asks, the reporter answers, the officer
    closes it off; each read by the other side a little later. Returns its last time."""
    street2 = rng.choice(_ZONES[p.zone][2])
    incident = refs.get(_incident_zone(p) or "", "")
    if hostile:
        lines = [
            ("officer", "Thanks for reporting it. Have you registered the frame number anywhere?"),
            (
                "citizen",
                f"Found my bike for sale online tonight. The listing text says: {HOSTILE} Carrera, collection only, cash",
            ),
            (
                "officer",
                "Please don't arrange to meet the seller yourself. Send us the link and we'll follow it up.",
            ),
            ("citizen", rng.choice(_THANKS)),
        ]
    else:
        ask = rng.choice(_ASK)
        lines = [("officer", ask), ("citizen", rng.choice(_ANSWER).format(street2=street2))]
        if rng.random() < 0.7:
            close = rng.choice(_CLOSE if incident else _CLOSE[1:])
            lines.append(("officer", close.format(incident=incident or "")))
            if rng.random() < 0.5:
                lines.append(("citizen", rng.choice(_THANKS)))
    now = t
    for sender, text in lines:
        if sender == "officer":

            def send(now: float = now, text: str = text) -> None:
                msg = m.OfficerChatSend(id=_rid(), idem=_rid(), report_id=p.public_id, text=text)
                _dev, sent = w.run(now, reports.officer_chat(holder, msg))
                seen = now + rng.uniform(20, 600)
                w.run(
                    seen,
                    reports.chat_receipts([sent.message_id], "read", by_device=dev_pk, actor=None),
                )

            at(now, send)
        else:

            def reply(now: float = now, text: str = text) -> None:
                msg = m.CitizenChatSend(
                    id=_rid(), report_id=p.public_id, text=text, client_ref=_rid()
                )
                sent = w.run(now, reports.citizen_chat(dev_pk, pseudonym, msg))
                seen = now + rng.uniform(15, 240)
                w.run(
                    seen,
                    reports.chat_receipts([sent.message_id], "read", by_device=None, actor=holder),
                )

            at(now, reply)
        now += rng.uniform(3, 25) * _MIN
    return now


def _ring(
    lat0: float, lon0: float, north_m: float, east_m: float, skew: float
) -> list[tuple[float, float]]:
    """A four-cornered area around a point, as an officer draws one (lon, lat pairs)."""
    dlat = north_m / 111_320.0
    dlon = east_m / (111_320.0 * math.cos(math.radians(lat0)))
    return [
        (round(lon0 - dlon, 5), round(lat0 - dlat * (1 - skew), 5)),
        (round(lon0 + dlon * (1 - skew), 5), round(lat0 - dlat, 5)),
        (round(lon0 + dlon, 5), round(lat0 + dlat * (1 - skew), 5)),
        (round(lon0 - dlon * (1 - skew), 5), round(lat0 + dlat, 5)),
    ]


def _plan_alerts(
    rng: random.Random,
    w: _Writer,
    officers: dict[str, Actor],
    index: targeting.DeviceIndex,
    refs: dict[str, str],
    alert_ids: dict[str, str],
    at: _At,
) -> None:
    """The burglary warning (sent, then widened by an Update two days later) and a vehicle
    crime circle, each acknowledged by the phones it reached over the following hours."""
    sarge = officers[SUPERVISOR]
    (lat0, lon0), _, _ = _ZONES["student"]
    t_sent = START + 10 * 86400 + 16 * _HOUR + 5 * _MIN
    t_update = START + 12 * 86400 + 11 * _HOUR + 20 * _MIN
    (dlat, dlon), _, _ = _ZONES["deepdale"]
    t_vehicle = START + 8 * 86400 + 9 * _HOUR + 40 * _MIN

    def info(
        area: m.Area,
        incident: str,
        cat: str,
        headline: str,
        desc: str,
        area_desc: str,
        expires: float,
    ) -> m.AlertInfo:
        return m.AlertInfo(
            categories=[cat],  # type: ignore[list-item]
            area=area,
            area_desc=area_desc,
            headline=headline,
            description=desc,
            instruction="Lock doors and windows, keep valuables out of sight, and report "
            "anything suspicious through Lookout or on 101. In an emergency call 999.",
            event="Burglary warning" if cat == "burglary" else "Vehicle crime warning",
            urgency="Expected",
            severity="Moderate",
            certainty="Likely",
            contact=f"Preston Neighbourhood Policing Team, 101 quoting {incident}",
            incident_ref=incident,
            expires_at=expires,
        )

    def targets(area: m.Area, cat: str, now: float) -> alerts.Targets:
        mask = targeting.category_mask([cat])
        return alerts.Targets(index.select(area, mask, now), index.reach(area, mask, now))

    def acknowledge(alert_id: str, sent: float, keys: list[int]) -> None:
        for key in keys:
            if rng.random() < 0.88:
                t_del = sent + (
                    rng.uniform(1, 90) if rng.random() < 0.7 else rng.uniform(10, 600) * _MIN
                )
                at(t_del, partial(_ack, w, t_del, key, alert_id, "delivered"))
                if rng.random() < 0.7:
                    t_read = t_del + rng.uniform(1, 120) * _MIN
                    at(t_read, partial(_ack, w, t_read, key, alert_id, "read"))

    def send_burglary() -> None:
        area = m.Polygon(coordinates=_ring(lat0, lon0, 520, 700, 0.15))
        msg = m.AlertSend(
            id=_rid(),
            idem=_rid(),
            info=info(
                area,
                refs["student"],
                "burglary",
                "Burglaries at student houses around Adelphi Street and Moor Lane",
                "Nine homes in the streets around Adelphi Street and Moor Lane have been "
                "broken into since 9 November, mostly in the evening while the residents were "
                "out. Laptops, consoles and bikes have been taken.",
                "Adelphi Street, Moor Lane, Fylde Road and Victoria Street",
                t_sent + 7 * 86400,
            ),
        )
        tg = targets(area, "burglary", t_sent)
        a = w.run(t_sent, alerts.create(sarge, msg, tg, threshold=500, floor=5))
        alert_ids["burglary"] = a.alert_id
        acknowledge(a.alert_id, t_sent, tg.keys.tolist())

    def update_burglary() -> None:
        wide = m.Polygon(coordinates=_ring(lat0 + 0.0025, lon0 - 0.002, 1050, 1250, 0.1))
        alert_id = alert_ids["burglary"]
        msg = m.AlertUpdate(
            id=_rid(),
            idem=_rid(),
            alert_id=alert_id,
            info=info(
                wide,
                refs["student"],
                "burglary",
                "Burglary warning extended to Plungington and Maudland",
                "Since our first warning there have been further break-ins, now also around "
                "Plungington Road and Maudland Bank. The same method: rear doors and ground-"
                "floor windows forced in the evening.",
                "Adelphi Street and Moor Lane, Plungington, Maudland",
                t_update + 10 * 86400,
            ),
        )
        tg = targets(wide, "burglary", t_update)
        w.run(t_update, alerts.revise(sarge, msg, tg, threshold=500, floor=5))
        acknowledge(alert_id, t_update, tg.keys.tolist())

    def send_vehicle() -> None:
        area = m.Circle(lat=dlat, lon=dlon, radius_m=850.0)
        msg = m.AlertSend(
            id=_rid(),
            idem=_rid(),
            info=info(
                area,
                refs["deepdale"],
                "vehicle",
                "Thefts from cars overnight around Deepdale Road",
                "Cars parked on the street around Deepdale Road and Ribbleton Lane have had "
                "windows smashed and catalytic converters cut off overnight.",
                "Within 850 m of Deepdale Road and St Gregory Road",
                t_vehicle + 7 * 86400,
            ),
        )
        tg = targets(area, "vehicle", t_vehicle)
        a = w.run(t_vehicle, alerts.create(sarge, msg, tg, threshold=500, floor=5))
        alert_ids["vehicle"] = a.alert_id
        acknowledge(a.alert_id, t_vehicle, tg.keys.tolist())

    at(t_sent, send_burglary)
    at(t_update, update_burglary)
    at(t_vehicle, send_vehicle)


def _ack(w: _Writer, t: float, key: int, alert_id: str, status: str) -> None:
    w.run(t, alerts.acknowledge(key, alert_id, status))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m demo.evidence_case", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--out", type=Path, required=True, help="a new directory to build it in")
    ap.add_argument("--seed", type=int, default=7, help="the same seed makes the same case")
    args = ap.parse_args(argv)
    case = build(args.out, args.seed)
    print(f"evidence package: {case.package}")
    print(f"evidence key fingerprint (pin it): {case.fingerprint}")
    print(f"relay data directory: {case.data_dir}")
    print("  " + json.dumps(case.counts))
    print(
        f"open it: lookout --evidence {case.package} --fingerprint {case.fingerprint}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
