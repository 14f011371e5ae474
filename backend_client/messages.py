"""Every message on Lookout's wire, defined once.

A frame is one JSON object (a websocket text frame). Every frame carries `v` (the protocol
version, 1) and `type`, which selects one of the structs below. Requests carry `id`, a
correlation id chosen by the sender; the reply to a request carries `re` = that `id`.
Officer events carry `seq`, the relay's event-log sequence number.

Coordinates are WGS84 degrees. Single points are `lat`, `lon` fields; polygon rings are
lists of `[lon, lat]` pairs (GeoJSON order), because the console's map produces GeoJSON.

This module is pure data: no I/O. `codec` decodes and validates frames against it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

import msgspec
from msgspec import Meta

from backend_client import PROTOCOL_VERSION, limits

# ---------------------------------------------------------------- constrained field types

Text = Annotated[str, Meta(max_length=limits.MAX_TEXT_CHARS)]
Short = Annotated[str, Meta(max_length=limits.MAX_SHORT_CHARS)]
Ident = Annotated[str, Meta(min_length=1, max_length=128)]
Sha256Hex = Annotated[str, Meta(pattern=r"^[0-9a-f]{64}$(?!\n)")]
Lat = Annotated[float, Meta(ge=-90.0, le=90.0)]
Lon = Annotated[float, Meta(ge=-180.0, le=180.0)]
NonNeg = Annotated[int, Meta(ge=0)]
Chunk = Annotated[bytes, Meta(max_length=limits.MEDIA_CHUNK_BYTES)]

Category = Literal[
    "burglary",
    "vehicle",
    "drugs",
    "missing_person",
    "fly_tipping",
    "antisocial",
    "rural",
    "horse",
    "canal",
    "school",
    "cycle",
    "business",
    "violence",
    "other",
]
#: Categories a citizen can report under and subscribe to. The index is the bit in the
#: relay's category bitmask, so append only; never reorder. Labels live in `rules`.
CATEGORIES: tuple[str, ...] = get_args(Category)

ReportStatus = Literal["new", "claimed", "in_progress", "closed"]
Role = Literal["dispatcher", "supervisor", "inspector", "analyst", "admin"]
Priority = Literal["low", "normal", "high"]
MediaMime = Literal["image/jpeg", "image/png", "image/webp", "video/mp4"]
ChatStatus = Literal["sent", "delivered", "read"]
Sender = Literal["citizen", "officer"]

# CAP 1.2 enumerations (OASIS CAP 1.2, section 3.2)
CapStatus = Literal["Actual", "Exercise", "System", "Test", "Draft"]
CapMsgType = Literal["Alert", "Update", "Cancel"]
CapCategory = Literal[
    "Geo",
    "Met",
    "Safety",
    "Security",
    "Rescue",
    "Fire",
    "Health",
    "Env",
    "Transport",
    "Infra",
    "CBRNE",
    "Other",
]
CapUrgency = Literal["Immediate", "Expected", "Future", "Past", "Unknown"]
CapSeverity = Literal["Extreme", "Severe", "Moderate", "Minor", "Unknown"]
CapCertainty = Literal["Observed", "Likely", "Possible", "Unlikely", "Unknown"]
CapResponseType = Literal[
    "Shelter",
    "Evacuate",
    "Prepare",
    "Execute",
    "Avoid",
    "Monitor",
    "Assess",
    "AllClear",
    "None",
]
#: an RFC 5646 language tag as CAP's `language` carries it: `en-GB`, `cy`, `pa-Arab-PK`
LanguageTag = Annotated[
    str,
    Meta(pattern=r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$(?!\n)", max_length=limits.MAX_SHORT_CHARS),
]
#: how many other languages one alert may carry (each is a CAP `info` block of its own)
MAX_TRANSLATIONS = 3
AlertState = Literal["pending_approval", "active", "cancelled", "expired", "rejected"]
#: a pilot runs (`active`: its participants' traffic is exercise), has `ended` (its devices
#: are ordinary devices again, its data kept for review), or is `purged` (its data erased)
PilotState = Literal["active", "ended", "purged"]
#: a pilot's id: a lower-case slug chosen by the inspector (`preston-2017`)
PilotId = Annotated[str, Meta(pattern=r"^[a-z0-9][a-z0-9-]{0,62}[a-z0-9]$(?!\n)")]


class Msg(msgspec.Struct, tag_field="type", kw_only=True):
    """Base of every frame: the versioned envelope."""

    v: int = PROTOCOL_VERSION


# ---------------------------------------------------------------- shared shapes (not frames)


class Polygon(msgspec.Struct, tag="polygon", tag_field="type", frozen=True):
    """A closed or open ring of `[lon, lat]` pairs; the relay closes it. No holes."""

    coordinates: Annotated[
        list[tuple[Lon, Lat]], Meta(min_length=3, max_length=limits.MAX_POLYGON_POINTS)
    ]


class Circle(msgspec.Struct, tag="circle", tag_field="type", frozen=True):
    lat: Lat
    lon: Lon
    radius_m: Annotated[float, Meta(gt=0.0, le=limits.MAX_RADIUS_M)]


Area = Polygon | Circle


class MediaDecl(msgspec.Struct, frozen=True):
    """A media file a citizen announces with a report, before sending its bytes."""

    sha256: Sha256Hex
    mime: MediaMime
    size: Annotated[int, Meta(gt=0, le=limits.MAX_MEDIA_BYTES)]


class MediaInfo(msgspec.Struct, frozen=True):
    sha256: Sha256Hex
    mime: MediaMime
    size: int
    stored: bool  # all bytes received and verified


class Report(msgspec.Struct, frozen=True):
    report_id: str
    reporter: str  # the device's pseudonym, never its id
    category: Category
    text: Text
    lat: Lat
    lon: Lon
    created_at: float  # unix seconds, relay clock
    status: ReportStatus
    priority: Priority
    claimed_by: str | None
    incident_ref: str | None
    media: list[MediaInfo]
    #: the pilot whose participant sent it: then it is exercise traffic (`exercise` true)
    #: and must be shown marked as such; absent (null, false) for a live report
    pilot_id: str | None = None
    exercise: bool = False
    #: why it was closed (a quick pick or the officer's words); cleared when it is reopened
    close_reason: str | None = None
    #: the report this one repeats (set when duplicates are merged under an incident)
    duplicate_of: str | None = None


class ChatMessage(msgspec.Struct, frozen=True):
    message_id: str
    report_id: str
    sender: Sender
    author: str  # officer username or citizen pseudonym
    text: Text
    sent_at: float
    status: ChatStatus
    #: the report's pilot: chat on an exercise report is exercise too
    pilot_id: str | None = None
    exercise: bool = False


class AlertTranslation(msgspec.Struct, frozen=True, kw_only=True):
    """An alert's words in another language: a second CAP `info` block (same event, area,
    codes); its `language` must differ from the alert's and from every other translation."""

    language: LanguageTag
    headline: Short
    description: Text = ""
    instruction: Text = ""


class AlertInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What an officer fills in; modelled on CAP 1.2 `info` plus Lookout's targeting."""

    categories: Annotated[list[Category], Meta(min_length=1)]
    area: Area
    area_desc: Short
    headline: Short
    description: Text = ""
    instruction: Text = ""
    event: Short = "Community alert"
    cap_category: CapCategory = "Security"
    urgency: CapUrgency = "Expected"
    severity: CapSeverity = "Moderate"
    certainty: CapCertainty = "Likely"
    contact: Short = ""
    incident_ref: Short | None = None
    expires_at: float  # unix seconds
    status: CapStatus = "Actual"
    #: an exercise alert's pilot: required with status `Exercise`, refused with any other;
    #: it reaches only that pilot's participants inside the pilot's area, and no email
    pilot_id: PilotId | None = None
    #: CAP `responseType`: what the alert asks people to do ("attend to information
    #: sources" unless the template says Shelter, Avoid, ...)
    response_type: CapResponseType = "Monitor"
    #: the RFC 5646 tag of the headline, description and instruction above
    language: LanguageTag = "en-GB"
    #: the same alert in other languages (e.g. Welsh `cy`); no language twice (the relay
    #: refuses that, see `cap_profile.language_problems`)
    translations: Annotated[list[AlertTranslation], Meta(max_length=MAX_TRANSLATIONS)] = []


class Alert(msgspec.Struct, frozen=True, kw_only=True):
    alert_id: str
    sender: str  # officer username
    sent_at: float
    msg_type: CapMsgType
    state: AlertState
    info: AlertInfo
    recipients: int
    delivered: int
    read: int
    approved_by: str | None = None
    #: set (the relay's minimum, default 5) when the alert reached fewer phones than
    #: that: then `recipients`, `delivered` and `read` are 0 and not given
    fewer_than: int | None = None
    #: emails queued for this alert (all its versions), accepted by the SMTP server, and
    #: given up on; under the same minimum as phones (`emails_fewer_than`, then all 0)
    emails: int = 0
    emails_sent: int = 0
    emails_failed: int = 0
    emails_fewer_than: int | None = None


class CitizenAlert(msgspec.Struct, frozen=True, kw_only=True):
    """The part of an alert a citizen's phone receives (no sender identity, no counts)."""

    alert_id: str
    msg_type: CapMsgType
    headline: str
    description: str
    instruction: str
    contact: str
    incident_ref: str | None
    category: CapCategory
    severity: CapSeverity
    urgency: CapUrgency
    sent_at: float
    expires_at: float
    area_desc: str
    #: CAP status: anything but `Actual` (a pilot's `Exercise`, a `Test`) is a rehearsal
    #: and must never look like a real alert on the phone.
    status: CapStatus = "Actual"
    #: the language of headline, description and instruction, and the same words in
    #: other languages: the phone shows the one its citizen reads (e.g. Welsh, `cy`)
    language: str = "en-GB"
    translations: list[AlertTranslation] = []


class OwnReport(msgspec.Struct, frozen=True, kw_only=True):
    """One of a device's own reports as its device sees it: where it stands, and no
    officer's name. `summary` is the start of the text, so a full list fits one frame."""

    report_id: str
    category: Category
    summary: Short
    created_at: float
    status: ReportStatus
    incident_ref: str | None
    #: the pilot it was sent in (exercise traffic), so the device can show it marked
    pilot_id: str | None = None


class PilotGroupSpec(msgspec.Struct, frozen=True):
    """A participant group of a new pilot: its name and how many people it plans."""

    name: Annotated[str, Meta(min_length=1, max_length=64)]
    count: Annotated[int, Meta(ge=0, le=limits.MAX_PILOT_GROUP_SIZE)]


class PilotGroup(msgspec.Struct, frozen=True):
    """A group of a pilot as officers see it: planned, joined (holding a participant
    link now) and active (of those, seen in the last `PILOT_ACTIVE_WINDOW_S`)."""

    name: str
    planned: int
    joined: int
    active: int


class PilotInfo(msgspec.Struct, frozen=True, kw_only=True):
    pilot_id: str
    title: str
    state: PilotState
    area: Polygon
    starts_at: float
    ends_at: float | None
    created_by: str
    created_at: float
    ended_at: float | None
    groups: list[PilotGroup]


# ================================================================ both endpoints


class Error(Msg, tag="error"):
    """The relay could not apply a frame. `re` names the request when it had an `id`."""

    code: str
    message: str
    re: str | None = None
    #: `rate_limited` only: seconds to wait before sending that request again
    retry_after_s: float | None = None


class Ping(Msg, tag="ping"):
    id: Ident
    t: float = 0.0


class Pong(Msg, tag="pong"):
    re: str
    t: float = 0.0


class Ack(Msg, tag="ack"):
    """Generic success reply for requests that return nothing else."""

    re: str


# ================================================================ citizen endpoint /v1/citizen


class EmailSubscribe(Msg, tag="email.subscribe"):
    """Email alerts for a place: the relay checks the address and sends a confirmation
    link; nothing is sent until it is opened (double opt-in). The answer is `ack` whether
    or not the address was subscribed already."""

    id: Ident
    email: Annotated[str, Meta(max_length=320)]
    lat: float
    lon: float
    radius_m: float
    categories: Annotated[list[Category], Meta(min_length=1)]


class EmailConfirm(Msg, tag="email.confirm"):
    """The token of a confirmation link: `ack`, or `not_found` if unknown or expired."""

    id: Ident
    token: Annotated[str, Meta(max_length=128)]


class EmailUnsubscribe(Msg, tag="email.unsubscribe"):
    """The token of an unsubscribe link: `ack` (the subscription is erased), or
    `not_found`."""

    id: Ident
    token: Annotated[str, Meta(max_length=128)]


class PilotJoin(Msg, tag="pilot.join"):
    """Join a pilot with an invite code: this device becomes its participant (still
    pseudonymous; its group is recorded) and its reports, chat and alerts are exercise
    traffic until it leaves or the pilot ends. A code works once and expires. Wrong,
    used and expired codes are `not_found` (with the reason) and count against the
    device's and the address's join allowance (`rate_limited` past it)."""

    id: Ident
    code: Annotated[str, Meta(max_length=limits.MAX_INVITE_CODE_CHARS)]


class PilotJoined(Msg, tag="pilot.joined"):
    re: str
    pilot_id: str
    title: str
    group: str
    starts_at: float
    ends_at: float | None


class PilotLeave(Msg, tag="pilot.leave"):
    """Stop being a pilot participant: `ack`, or `not_found` when in none."""

    id: Ident


class DeviceRegister(Msg, tag="device.register"):
    """First contact of a new device: the relay answers with credentials to keep."""

    id: Ident
    platform: Short = "unknown"


class DeviceRegistered(Msg, tag="device.registered"):
    re: str
    device_id: str
    secret: str  # store on the device; it proves the device on every later connection
    pseudonym: str


class DeviceAuth(Msg, tag="device.auth"):
    id: Ident
    device_id: Ident
    secret: Ident


class DeviceAuthed(Msg, tag="device.authed"):
    re: str
    pseudonym: str
    categories: list[Category]


class SetCategories(Msg, tag="device.categories"):
    id: Ident
    categories: list[Category]


class LocationUpdate(Msg, tag="device.location"):
    """Latest fix only; the relay forgets it after `LOCATION_TTL_S` and never shows officers."""

    id: Ident
    lat: Lat
    lon: Lon
    accuracy_m: Annotated[float, Meta(ge=0.0)] = 0.0


class ReportSubmit(Msg, tag="report.submit"):
    """A citizen's report. `client_ref` makes resubmission after a dropped link idempotent."""

    id: Ident
    client_ref: Ident
    category: Category
    text: Text
    lat: Lat
    lon: Lon
    media: Annotated[list[MediaDecl], Meta(max_length=limits.MAX_MEDIA_PER_REPORT)] = []


class ReportAccepted(Msg, tag="report.accepted"):
    """Sent only after the report is committed. `missing` lists media still to upload."""

    re: str
    report_id: str
    missing: list[str]


class ReportsMine(Msg, tag="report.mine"):
    """A device asks for its own reports and where each stands (the portal's list)."""

    id: Ident


class ReportsListed(Msg, tag="report.list"):
    """Reply to `report.mine`: newest first, at most `MAX_OWN_REPORTS`."""

    re: str
    reports: list[OwnReport]


class MediaChunk(Msg, tag="media.chunk"):
    """Bytes of an announced media file, base64 in JSON, sent in order from offset 0."""

    id: Ident
    report_id: Ident
    sha256: Sha256Hex
    offset: NonNeg
    data: Chunk


class MediaProgress(Msg, tag="media.progress"):
    re: str
    sha256: str
    received: int
    complete: bool  # true once all bytes arrived, hash and type verified, and stored


class CitizenChatSend(Msg, tag="chat.send"):
    id: Ident
    report_id: Ident
    text: Annotated[str, Meta(min_length=1, max_length=limits.MAX_TEXT_CHARS)]
    client_ref: Ident


class ChatSent(Msg, tag="chat.sent"):
    """The message is stored; `message` carries its relay id and status `sent`."""

    re: str
    message: ChatMessage


class ChatDeliver(Msg, tag="chat.deliver"):
    """An officer's chat message pushed to the citizen's device."""

    message: ChatMessage


class ChatReceipt(Msg, tag="chat.receipt"):
    """Receiver says it has the messages (`delivered`) or showed them (`read`)."""

    id: Ident
    message_ids: Annotated[list[Ident], Meta(min_length=1, max_length=500)]
    status: Literal["delivered", "read"]


class ChatStatusUpdate(Msg, tag="chat.status"):
    """Pushed to the citizen when an officer's device received / read their message."""

    message_id: str
    status: ChatStatus


class AlertDeliver(Msg, tag="alert.deliver"):
    alert: CitizenAlert


class AlertAck(Msg, tag="alert.ack"):
    id: Ident
    alert_id: Ident
    status: Literal["delivered", "read"]


# ---- privacy: subject access and erasure (GDPR articles 15 and 17; docs/privacy.md)

#: an export page's JSON stays under about this many bytes (well inside MAX_FRAME_BYTES,
#: whatever the texts hold): a device with more data pages through `next_cursor`
PRIVACY_PAGE_BYTES = 256 * 1024
#: most report ids a `privacy.erased` reply lists as kept (`reports_kept` counts them all)
PRIVACY_KEPT_LISTED = 1000


class PrivacyExport(Msg, tag="privacy.export"):
    """Subject access: one page of everything the relay holds about this device. Start
    with no cursor; send each page's `next_cursor` back until it is null."""

    id: Ident
    cursor: Annotated[str, Meta(max_length=64)] = ""


class PrivacyLocation(msgspec.Struct, frozen=True):
    """The device's latest location fix, as the relay holds it for targeting alerts."""

    lat: float
    lon: float
    expires_at: float  # the relay forgets it then (LOCATION_TTL_S after it was sent)


class PrivacyDevice(msgspec.Struct, frozen=True):
    device_id: str
    pseudonym: str
    platform: str
    categories: list[Category]
    created_at: float
    location: PrivacyLocation | None


class PrivacyReport(msgspec.Struct, frozen=True):
    """One of the device's reports, as stored (no officer names: `claimed_by` is left out)."""

    report_id: str
    category: Category
    text: str
    lat: float
    lon: float
    created_at: float
    status: ReportStatus
    incident_ref: str | None
    media: list[MediaInfo]


class PrivacyAlert(msgspec.Struct, frozen=True):
    """An alert the relay chose this device for, and what the device acknowledged."""

    alert: CitizenAlert
    receipt: Literal["pending", "delivered", "read"]
    cancel_seen: bool


class PrivacyData(Msg, tag="privacy.data"):
    """One export page. `device` is on the first page only; each list continues on the
    next page, in the order reports, chat, alerts."""

    re: str
    device: PrivacyDevice | None
    reports: list[PrivacyReport]
    chat: list[ChatMessage]
    alerts: list[PrivacyAlert]
    next_cursor: str | None


class PrivacyErase(Msg, tag="privacy.erase"):
    """Erasure: forget this device. `device_id` must be this connection's own device and
    `confirm` true; nothing is erased otherwise."""

    id: Ident
    device_id: Ident
    confirm: bool = False


class PrivacyKept(msgspec.Struct, frozen=True):
    """A report kept after erasure, and why (docs/privacy.md)."""

    report_id: str
    incident_ref: str
    chat: int  # messages on it kept, both ways
    media: int  # files of it kept
    reason: str


class PrivacyErased(Msg, tag="privacy.erased"):
    """The device is forgotten: its credentials no longer work and the relay closes this
    connection after this reply. Counts say what was erased; `kept` what was not, and why."""

    re: str
    reports_erased: int
    chat_erased: int
    media_erased: int
    alert_deliveries_erased: int
    location_erased: bool
    categories_erased: int
    reports_kept: int
    kept: list[PrivacyKept]
    summary: str  # the same, in words for the citizen


# ================================================================ officer endpoint /v1/officer
# ---- session


class Login(Msg, tag="auth.login"):
    id: Ident
    username: Short
    password: Annotated[str, Meta(max_length=1024)]
    totp: Annotated[str, Meta(pattern=r"^[0-9]{6,8}$(?!\n)")]


class Resume(Msg, tag="auth.resume"):
    """Re-authenticate a new connection with a still-valid token."""

    id: Ident
    token: Ident


class Refresh(Msg, tag="auth.refresh"):
    """Exchange the current (valid) session token for a fresh one."""

    id: Ident


class PasswordChange(Msg, tag="auth.change_password"):
    """Change one's own password, proved by the current one and a fresh TOTP code (which
    is used up, as a login's is). The relay refuses a new password that is short, holds
    the user name, or is common or easy to guess (`invalid`, with the reason), answers
    `ack` on success and ends the officer's other sessions; this one stays."""

    id: Ident
    current: Annotated[str, Meta(max_length=1024)]
    new: Annotated[str, Meta(max_length=1024)]
    totp: Annotated[str, Meta(pattern=r"^[0-9]{6,8}$(?!\n)")]


class Logout(Msg, tag="auth.logout"):
    """Revoke this connection's session token (sign-out, quit): it resumes nowhere after."""

    id: Ident


class AuthOk(Msg, tag="auth.ok"):
    re: str
    token: str
    expires_at: float
    username: str
    role: Role
    #: the relay writes `<web>` in its CAP messages (it has `cap_web_base` or `public_url`):
    #: without it every alert breaks the Google Public Alerts profile, which the composer says
    cap_web: bool = True


class Subscribe(Msg, tag="subscribe"):
    """Replay every event with seq > `since`, in order, then stream live ones.

    Live operations see exercise traffic by default, marked (`exercise`, `pilot_id`,
    CAP status `Exercise`); `exclude_exercise` leaves every pilot's events out, replayed
    and live. `epoch` is the log's epoch the client's `since` belongs to (the last
    `subscribed.epoch` it kept), None when it has none yet."""

    id: Ident
    since: NonNeg = 0
    exclude_exercise: bool = False
    epoch: Annotated[str, Meta(max_length=64)] | None = None


class Subscribed(Msg, tag="subscribed"):
    """Replay done: every event up to `head` has been sent before this frame.

    `epoch` names the event log (a random id; a new one when history was lost): the
    client keeps it with its seq. `history_lost`: the client's `since` cannot be resumed
    from (another epoch, or events it needs are gone); nothing was replayed and the
    connection is not live: drop every cached item and subscribe again with since 0 and
    this epoch. `epoch` is empty from a relay older than epochs."""

    re: str
    head: int
    epoch: str = ""
    history_lost: bool = False


# ---- officer requests (those that change state carry an idempotency key `idem`)


class ReportClaim(Msg, tag="report.claim"):
    id: Ident
    idem: Ident
    report_id: Ident
    force: bool = False  # supervisor takeover of someone else's claim


class ReportSetStatus(Msg, tag="report.set_status"):
    id: Ident
    idem: Ident
    report_id: Ident
    status: ReportStatus
    #: why, when closing (stored and audited; a reopen clears it); ignored for other moves
    reason: Short | None = None


class ReportAssign(Msg, tag="report.assign"):
    id: Ident
    idem: Ident
    report_id: Ident
    officer: Short


class ReportSetPriority(Msg, tag="report.set_priority"):
    id: Ident
    idem: Ident
    report_id: Ident
    priority: Priority


class IncidentCreate(Msg, tag="incident.create"):
    id: Ident
    idem: Ident
    title: Short
    #: reports linked to the new incident in the same step (a "new incident from these")
    report_ids: Annotated[list[Ident], Meta(max_length=MERGE_IDS_MAX)] = []


class IncidentCreated(Msg, tag="incident.created"):
    re: str
    incident_ref: str


class ReportLink(Msg, tag="report.link"):
    id: Ident
    idem: Ident
    report_id: Ident
    incident_ref: Short


# ---- incidents and the team (issue 13, "incidents": docs/protocol.md section 13)

#: most report ids one `report.merge` or `incident.create` names
MERGE_IDS_MAX = 50
#: most report ids a `team.list` entry names (`holding` counts them all)
TEAM_HOLDS_LISTED = 20


class ReportUnlink(Msg, tag="report.unlink"):
    """Take a report out of its incident. A duplicate (closed by `report.merge`) is
    reopened as new and stops being a duplicate: a merge is undone report by report."""

    id: Ident
    idem: Ident
    report_id: Ident


class ReportMerge(Msg, tag="report.merge"):
    """Link `into` and every report in `report_ids` to one incident (`incident_ref`, or a
    new one opened from `into`, titled `title` or after it); every report but `into`
    becomes its duplicate, closed with reason "Duplicate of <into>". Reply
    `incident.created` with the incident's ref. All or nothing."""

    id: Ident
    idem: Ident
    into: Ident
    report_ids: Annotated[list[Ident], Meta(min_length=1, max_length=MERGE_IDS_MAX)]
    incident_ref: Short | None = None
    title: Short | None = None


class TeamList(Msg, tag="team.list"):
    """Who is signed in now. Reply `team.listed`."""

    id: Ident


class OnlineOfficer(msgspec.Struct, frozen=True):
    """An officer with at least one open, signed-in connection (names go to officers
    only)."""

    username: str
    role: Role
    since: float  # when their oldest open connection signed in
    #: reports they hold (claimed or assigned, not closed), at most TEAM_HOLDS_LISTED
    holds: list[str]
    holding: int  # how many they hold in all


class TeamListed(Msg, tag="team.listed"):
    re: str
    officers: list[OnlineOfficer]


class TeamChanged(Msg, tag="team.changed"):
    """Pushed to subscribed officers when someone signs in or out or a claim moves: the
    whole team, as `team.listed` would give it. Not an event: no `seq`, never replayed."""

    officers: list[OnlineOfficer]


class OfficerChatSend(Msg, tag="chat.reply"):
    id: Ident
    idem: Ident
    report_id: Ident
    text: Annotated[str, Meta(min_length=1, max_length=limits.MAX_TEXT_CHARS)]


class OfficerChatRead(Msg, tag="chat.mark_read"):
    id: Ident
    message_ids: Annotated[list[Ident], Meta(min_length=1, max_length=500)]


class MediaGet(Msg, tag="media.get"):
    id: Ident
    sha256: Sha256Hex
    offset: NonNeg = 0
    length: Annotated[int, Meta(gt=0, le=limits.MEDIA_CHUNK_BYTES)] = limits.MEDIA_CHUNK_BYTES


class MediaData(Msg, tag="media.data"):
    re: str
    sha256: str
    mime: str
    total: int
    offset: int
    data: bytes


class AlertPreview(Msg, tag="alert.preview"):
    """`pilot_id` counts what an exercise alert of that pilot would reach (its
    participants inside the area and the pilot's area), as `alert.send` would."""

    id: Ident
    area: Area
    categories: Annotated[list[Category], Meta(min_length=1)]
    pilot_id: PilotId | None = None


class AlertCount(Msg, tag="alert.count"):
    """How many devices an alert would reach. Only a number: never positions.

    A count below the relay's minimum (`fewer_than`, default 5) is not given: then
    `fewer_than` is that minimum and `recipients` is 0, so no series of previews can tell
    one phone from none. `approval_required` is exactly what `alert.send` would do."""

    re: str
    recipients: int
    approval_required: bool
    fewer_than: int | None = None
    #: email subscribers the alert would reach, counted apart from phones and coarsened
    #: the same way (`emails_fewer_than`); None: this relay sends no email (no SMTP server)
    emails: int | None = None
    emails_fewer_than: int | None = None


class AlertSend(Msg, tag="alert.send"):
    id: Ident
    idem: Ident
    info: AlertInfo


class AlertAccepted(Msg, tag="alert.accepted"):
    re: str
    alert: Alert


class AlertApprove(Msg, tag="alert.approve"):
    id: Ident
    idem: Ident
    alert_id: Ident
    approve: bool = True


class AlertUpdate(Msg, tag="alert.update"):
    """A CAP `Update`: new text/expiry for an active alert, re-sent to its recipients."""

    id: Ident
    idem: Ident
    alert_id: Ident
    info: AlertInfo


class AlertCancel(Msg, tag="alert.cancel"):
    id: Ident
    idem: Ident
    alert_id: Ident


class AlertExport(Msg, tag="alert.export_cap"):
    id: Ident
    alert_id: Ident
    #: `alert_id` is a CAP message identifier (`A-…` the original Alert, `A-….1` the next):
    #: that message exactly as it was sent, not the alert's current one
    message: bool = False


class AlertCap(Msg, tag="alert.cap"):
    re: str
    alert_id: str
    xml: str
    #: the CAP identifier of every message the alert went through, oldest first (each
    #: exportable with `message`), so the console can offer an earlier one
    messages: list[str] = []


# ---- pilots (inspector, supervisor, admin)


class PilotCreate(Msg, tag="pilot.create"):
    """A pilot: from now its participants' traffic is exercise. Reply `pilot.accepted`;
    `conflict` if the id is taken (a purged pilot's id stays taken)."""

    id: Ident
    idem: Ident
    pilot_id: PilotId
    title: Annotated[str, Meta(min_length=1, max_length=limits.MAX_SHORT_CHARS)]
    area: Polygon
    groups: Annotated[list[PilotGroupSpec], Meta(min_length=1, max_length=limits.MAX_PILOT_GROUPS)]
    starts_at: float | None = None  # default: now
    ends_at: float | None = None  # planned end, shown to participants; `pilot.end` ends it


class PilotAccepted(Msg, tag="pilot.accepted"):
    re: str
    pilot: PilotInfo


class PilotList(Msg, tag="pilot.list"):
    id: Ident
    include_purged: bool = False


class PilotListed(Msg, tag="pilot.listed"):
    """Every pilot, newest first, with per-group joined and active counts."""

    re: str
    pilots: list[PilotInfo]


class PilotInvite(Msg, tag="pilot.invite"):
    """Issue `count` one-use invite codes for a group of an active pilot. The codes are
    in this reply only: the relay keeps their hashes. Not idempotent on purpose (a reply
    kept for a retry would keep the codes): a lost reply costs unused codes that expire."""

    id: Ident
    pilot_id: PilotId
    group: Annotated[str, Meta(min_length=1, max_length=64)]
    count: Annotated[int, Meta(ge=1, le=limits.MAX_INVITES_PER_REQUEST)]
    valid_s: Annotated[float, Meta(gt=0, le=limits.MAX_INVITE_VALID_S)] = 14 * 24 * 3600.0


class PilotInvites(Msg, tag="pilot.invites"):
    re: str
    pilot_id: str
    group: str
    codes: list[str]
    expires_at: float


class PilotEnd(Msg, tag="pilot.end"):
    """End an active pilot: its participants become ordinary devices again (their later
    reports are live traffic), its codes stop working, its data stays for review."""

    id: Ident
    idem: Ident
    pilot_id: PilotId


class PilotPurge(Msg, tag="pilot.purge"):
    """Erase an ended pilot's data after review, in two steps: without `confirm` the
    reply counts what would go and nothing is erased; with `confirm` true it goes
    (reports, chat, media, alerts and their receipts, participant links, codes and the
    pilot's events), audited. Purging a purged pilot erases nothing more."""

    id: Ident
    pilot_id: PilotId
    confirm: bool = False


class PilotPurged(Msg, tag="pilot.purged"):
    re: str
    pilot_id: str
    dry_run: bool  # true: nothing was erased; these are what `confirm` would erase
    reports: int
    chat: int
    media: int
    alerts: int
    receipts: int
    participants: int
    invites: int


#: a unix time in a `pilot.review` (from 1970 to 2286)
ReviewTime = Annotated[float, Meta(ge=0.0, le=limits.MAX_REVIEW_TIME_S)]
#: a plan time in a `pilot.review` (seconds from day 1's opening, either way)
PlanSeconds = Annotated[float, Meta(ge=-limits.MAX_REVIEW_TIME_S, le=limits.MAX_REVIEW_TIME_S)]
#: a `pilot.review` clock's speed (plan seconds per second)
ReviewSpeed = Annotated[float, Meta(gt=0.0, le=limits.MAX_REVIEW_SPEED)]


class ClockSegment(msgspec.Struct, frozen=True):
    """One running stretch of a live run: from unix time `at`, plan time `t` advancing at
    `speed` plan seconds per second, standing at `until_t` once it stopped (a pause, the
    end; None: it was still running)."""

    at: ReviewTime
    t: PlanSeconds
    speed: ReviewSpeed = 1.0
    until_t: PlanSeconds | None = None


class LinearClock(msgspec.Struct, tag="linear", tag_field="kind", frozen=True):
    """Plan time 0 at unix `started_at`, then `speed` plan seconds per second (a
    rehearsal's compressed clock, never paused)."""

    started_at: ReviewTime
    speed: ReviewSpeed = 1.0


class DatesClock(msgspec.Struct, tag="dates", tag_field="kind", frozen=True):
    """Plan time is where the plan's own dates and hours say (its `Schedule`)."""


class FromStartClock(msgspec.Struct, tag="from_start", tag_field="kind", frozen=True):
    """A run started by hand and maybe paused: its running stretches, in order (one
    stretch at speed 1 from a start time is a run never paused)."""

    segments: Annotated[
        list[ClockSegment], Meta(min_length=1, max_length=limits.MAX_CLOCK_SEGMENTS)
    ]


#: how the relay's unix time maps to a plan's plan time (`backend_client.pilots.timemap`)
PlanTimeMap = LinearClock | DatesClock | FromStartClock


class PromptShown(msgspec.Struct, frozen=True):
    """A prompt inject shown to officers during a live run, at unix time `at`."""

    inject: Annotated[str, Meta(min_length=1, max_length=64)]
    at: ReviewTime


class PilotReview(Msg, tag="pilot.review"):
    """A pilot's metrics (docs/pilots.md, Metrics) from the relay's own records: its
    events, participants and receipts, with the plan it ran (its TOML text, checked by the
    relay; its name or title and its groups must be the pilot's) and how plan time maps
    to the relay's clock. Reply `pilot.reviewed`. `prompts`: when each prompt inject was
    shown to officers (unix time), which only the runner knows. Audited; one review at a
    time per relay (`rate_limited` otherwise)."""

    id: Ident
    pilot_id: PilotId
    plan: Annotated[str, Meta(min_length=1, max_length=limits.MAX_REVIEW_PLAN_CHARS)]
    clock: PlanTimeMap
    prompts: Annotated[list[PromptShown], Meta(max_length=limits.MAX_CLOCK_SEGMENTS)] = []


class PilotReviewed(Msg, tag="pilot.reviewed"):
    """metrics.json's object: counts, rates and plan-time figures, never a position or a
    device."""

    re: str
    pilot_id: str
    metrics: dict[str, Any]


#: most ids in one evidence selector list (incidents or reports)
EVIDENCE_IDS_MAX = 500


class EvidenceExport(Msg, tag="evidence.export"):
    """Build a signed evidence package (docs/evidence.md). `reason` is signed into the
    package and audited; at least one selector must be given (the relay checks both and
    answers `invalid`). Times are unix seconds, like every time on the wire."""

    id: Ident
    reason: Text
    incidents: Annotated[list[Ident], Meta(max_length=EVIDENCE_IDS_MAX)] = []
    reports: Annotated[list[Ident], Meta(max_length=EVIDENCE_IDS_MAX)] = []
    since: float | None = None
    until: float | None = None
    area: Polygon | None = None


class EvidenceCounts(msgspec.Struct, frozen=True):
    reports: int
    chat: int
    incidents: int
    alerts: int
    media: int
    audit_records: int


class EvidenceReady(Msg, tag="evidence.ready"):
    """The package is built and audited; fetch its bytes with `evidence.get`."""

    re: str
    package_id: str
    total: int
    sha256: str
    merkle_root: str
    fingerprint: str
    counts: EvidenceCounts
    expires_at: float


class EvidenceGet(Msg, tag="evidence.get"):
    id: Ident
    package_id: Ident
    offset: NonNeg = 0
    length: Annotated[int, Meta(gt=0, le=limits.MEDIA_CHUNK_BYTES)] = limits.MEDIA_CHUNK_BYTES


class EvidenceData(Msg, tag="evidence.data"):
    re: str
    package_id: str
    total: int
    offset: int
    data: bytes


# ---- alert history (issue 13: what happened to an alert, by whom, when)


#: what an alert history entry records (docs/protocol.md, "Alert history")
AlertHistoryAction = Literal[
    "sent",
    "approval requested",
    "approved",
    "rejected",
    "updated",
    "update proposed",
    "cancelled",
    "expired",
]


class AlertHistoryEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One step in an alert's life, from the relay's audit log. `by` is None for what
    nobody did (expiry); `note` says what an entry was about in words ("the pending
    update", "to 312 phones")."""

    action: AlertHistoryAction
    by: str | None
    at: float
    note: str = ""


class AlertHistory(Msg, tag="alert.history"):
    """What happened to an alert, oldest first. Reply `alert.history_listed`."""

    id: Ident
    alert_id: Ident


class AlertHistoryListed(Msg, tag="alert.history_listed"):
    re: str
    alert_id: str
    entries: list[AlertHistoryEntry]


# ---- report history and internal notes (issue 13, "detail": relay/history.py)

#: most characters in one internal note (a note is a dispatcher's jotting, not a statement)
NOTE_MAX_CHARS = 2_000
#: most history entries one `report.history` reply carries (the newest; `omitted` counts
#: the older ones left out)
HISTORY_MAX_ENTRIES = 300
#: most notes one `report.history` reply carries (the newest; `notes_omitted` counts the rest)
HISTORY_MAX_NOTES = 100
#: and the reply's JSON stays under this many bytes whatever the texts hold (the relay
#: leaves out the oldest entries, then the oldest notes, until it fits one frame)
HISTORY_MAX_BYTES = 768 * 1024


class ReportHistoryGet(Msg, tag="report.history"):
    """Ask for a report's history and its internal notes (officers only)."""

    id: Ident
    report_id: Ident


class HistoryEntry(msgspec.Struct, frozen=True):
    """One thing that happened to a report: when, by whom (an officer's user name, or
    "citizen"), the audit action, and what it was in words."""

    at: float
    by: str
    action: str
    detail: str


class Note(msgspec.Struct, frozen=True):
    """An officer-only internal note on a report: never sent to the citizen."""

    note_id: str
    report_id: str
    author: str
    text: str
    at: float
    #: the report's pilot: a note on an exercise report is exercise traffic too
    pilot_id: str | None = None


class ReportHistory(Msg, tag="report.history_of"):
    re: str
    report_id: str
    entries: list[HistoryEntry]  # oldest first
    notes: list[Note]  # oldest first
    omitted: int = 0  # older history entries not sent (over HISTORY_MAX_ENTRIES)
    notes_omitted: int = 0  # older notes not sent (over HISTORY_MAX_NOTES)


class ReportNoteAdd(Msg, tag="report.note"):
    id: Ident
    idem: Ident
    report_id: Ident
    text: Annotated[str, Meta(min_length=1, max_length=NOTE_MAX_CHARS)]


class ReportNoteAdded(Msg, tag="report.note_added"):
    re: str
    note: Note


# ---- console exports (issue 14: File -> Export; docs/protocol.md, "Console exports")

#: what an export holds (backend_client.exports.Kind) and how it is written (.Format)
ExportKind = Literal["reports", "alerts", "incidents"]
ExportFormat = Literal["geojson", "kml", "csv"]


class ExportAudit(Msg, tag="export.audit"):
    """The console is about to write an export file of what it shows: audited first, the
    file written only after `export.audited`. Carries what the file is (kind, format,
    item count, SHA-256 of its bytes, where it came from in words: "feed: …", "map
    view", "incident INC-…", the file's name), never the items themselves. `kinds`: every
    kind the file holds (the map view's GeoJSON and KML: reports and alerts; empty from
    an older console: `kind` alone). `idem`: a resend after a lost reply is audited once."""

    id: Ident
    idem: Ident
    kind: ExportKind
    format: ExportFormat
    count: NonNeg
    sha256: Sha256Hex
    scope: Short
    filename: Short
    kinds: Annotated[list[ExportKind], Meta(max_length=3)] = []


class ExportAudited(Msg, tag="export.audited"):
    """The export is in the audit log (record `audit_seq`, at `at`): write the file now."""

    re: str
    audit_seq: int
    at: float


# ---- officer events (pushed to every subscribed officer, ordered by seq)


class ReportCreated(Msg, tag="report.created"):
    seq: int
    at: float
    report: Report


class ReportUpdated(Msg, tag="report.updated"):
    """Status, claim, priority, incident link or media completeness changed."""

    seq: int
    at: float
    report: Report
    by: str | None  # officer who changed it, None for the relay itself (media arrived)


class ChatPosted(Msg, tag="chat.posted"):
    seq: int
    at: float
    message: ChatMessage


class ChatStatusChanged(Msg, tag="chat.status_changed"):
    seq: int
    at: float
    message_id: str
    report_id: str
    status: ChatStatus
    pilot_id: str | None = None  # the report's pilot (exercise traffic)


class AlertChanged(Msg, tag="alert.changed"):
    """An alert was created, approved, updated, cancelled, expired, or its counts moved."""

    seq: int
    at: float
    alert: Alert


class IncidentOpened(Msg, tag="incident.opened"):
    seq: int
    at: float
    incident_ref: str
    title: str
    by: str
    #: the pilot of the exercise reports it was opened with (its title may be their
    #: words): exercise traffic, left out by `exclude_exercise`, erased by the purge
    pilot_id: str | None = None


class PilotChanged(Msg, tag="pilot.changed"):
    """A pilot was created, ended or purged, or a participant joined or left."""

    seq: int
    at: float
    pilot: PilotInfo


#: most report ids one `report.erased` event lists; a larger erasure sends several
ERASED_IDS_PER_EVENT = 500


class ReportErased(Msg, tag="report.erased"):
    """A citizen erased their data (`privacy.erase`, docs/privacy.md) or a pilot was
    purged (`pilot.purge`), committed. Every
    report in `report_ids` is gone from the relay with its chat and media: a console drops
    it and everything it holds of it. Each report in `tombstoned` is kept because an
    officer linked it to an incident, but its reporter is now a tombstone (no device, no
    credentials): nobody can be reached through it. Ids only: no text, place or name."""

    seq: int
    at: float
    report_ids: Annotated[list[str], Meta(max_length=ERASED_IDS_PER_EVENT)]
    tombstoned: Annotated[list[str], Meta(max_length=ERASED_IDS_PER_EVENT)] = []


# ---- report history and internal notes (issue 13, "detail")


class ReportNoted(Msg, tag="report.noted"):
    """An officer added an internal note to a report (officers only; never the citizen)."""

    seq: int
    at: float
    note: Note


# ================================================================ unions per direction

CitizenInbound = (
    DeviceRegister
    | DeviceAuth
    | SetCategories
    | LocationUpdate
    | ReportSubmit
    | ReportsMine
    | MediaChunk
    | CitizenChatSend
    | ChatReceipt
    | AlertAck
    | PrivacyExport
    | PrivacyErase
    | EmailSubscribe
    | EmailConfirm
    | EmailUnsubscribe
    | PilotJoin
    | PilotLeave
    | Ping
)
CitizenOutbound = (
    DeviceRegistered
    | DeviceAuthed
    | Ack
    | ReportAccepted
    | ReportsListed
    | MediaProgress
    | ChatSent
    | ChatDeliver
    | ChatStatusUpdate
    | AlertDeliver
    | PrivacyData
    | PrivacyErased
    | PilotJoined
    | Pong
    | Error
)
OfficerInbound = (
    Login
    | Resume
    | Refresh
    | Logout
    | PasswordChange
    | Subscribe
    | ReportClaim
    | ReportSetStatus
    | ReportAssign
    | ReportSetPriority
    | IncidentCreate
    | ReportLink
    | ReportUnlink
    | ReportMerge
    | TeamList
    | OfficerChatSend
    | OfficerChatRead
    | MediaGet
    | AlertPreview
    | AlertSend
    | AlertApprove
    | AlertUpdate
    | AlertCancel
    | AlertExport
    | AlertHistory
    | EvidenceExport
    | EvidenceGet
    | PilotCreate
    | PilotList
    | PilotInvite
    | PilotEnd
    | PilotPurge
    | PilotReview
    | ReportHistoryGet
    | ReportNoteAdd
    | ExportAudit
    | Ping
)
OfficerEvent = (
    ReportCreated
    | ReportUpdated
    | ChatPosted
    | ChatStatusChanged
    | AlertChanged
    | IncidentOpened
    | ReportErased
    | PilotChanged
    | ReportNoted
)
OfficerOutbound = (
    AuthOk
    | Subscribed
    | Ack
    | IncidentCreated
    | MediaData
    | AlertCount
    | AlertAccepted
    | AlertCap
    | AlertHistoryListed
    | EvidenceReady
    | EvidenceData
    | PilotAccepted
    | PilotListed
    | PilotInvites
    | PilotPurged
    | PilotReviewed
    | TeamListed
    | TeamChanged
    | ReportHistory
    | ReportNoteAdded
    | ExportAudited
    | ChatSent
    | Pong
    | Error
    | ReportCreated
    | ReportUpdated
    | ChatPosted
    | ChatStatusChanged
    | AlertChanged
    | IncidentOpened
    | ReportErased
    | PilotChanged
    | ReportNoted
)
