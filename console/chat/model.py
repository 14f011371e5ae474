"""Conversations per report, as the chat pane shows them (pure: no Qt, no I/O).

What it decides:
- a message appears once per `message_id`, in time order within its conversation;
- receipts only move forward (sent -> delivered -> read); a late or replayed lower status
  never takes a mark away;
- an officer reply still in the outbox is a "queued" entry keyed by its idempotency key;
  when the relay confirms it, the real message takes its place (never both), and when the
  relay refuses it, it stays visible as "refused" with the reason;
- unread = citizen messages not yet read (by any officer, or marked here and waiting for
  the relay to agree);
- conversations are ordered by their latest activity, newest first;
- which conversations a search finds (any message's text, its reporter's pseudonym);
- how a reply's mark, a message's time and a conversation's title read.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime

from backend_client import messages as m
from backend_client import rules
from console.common.erasure import reporter_text
from console.common.exercise import EXERCISE, is_exercise_report

RANK = {"queued": 0, "refused": 0, "sent": 1, "delivered": 2, "read": 3}


@dataclass(frozen=True)
class ChatEntry:
    key: str  # message_id, or "queued:<idem>" while the relay has not confirmed it
    report_id: str
    sender: str  # citizen | officer
    author: str
    text: str
    at: float
    status: str  # queued | refused | sent | delivered | read
    idem: str | None = None
    error: str | None = None
    order: int = 0  # arrival order, to break ties between equal times

    @property
    def message_id(self) -> str | None:
        return None if self.key.startswith("queued:") else self.key


@dataclass
class Conversation:
    report_id: str
    title: str = ""
    entries: list[ChatEntry] = field(default_factory=list)
    marked_read: set[str] = field(default_factory=set)  # asked the relay; not confirmed yet

    @property
    def last_at(self) -> float:
        return max((e.at for e in self.entries), default=0.0)

    def unread_ids(self) -> list[str]:
        return [
            e.key
            for e in self.entries
            if e.sender == "citizen" and e.status != "read" and e.key not in self.marked_read
        ]

    @property
    def unread(self) -> int:
        return len(self.unread_ids())

    def last(self) -> ChatEntry | None:
        return self.entries[-1] if self.entries else None


class ChatModel:
    def __init__(self) -> None:
        self._conversations: dict[str, Conversation] = {}
        self._order = itertools.count()
        self._idem_report: dict[str, str] = {}

    # ------------------------------------------------------------------ reading

    def conversation(self, report_id: str) -> Conversation:
        conv = self._conversations.get(report_id)
        if conv is None:
            conv = self._conversations[report_id] = Conversation(report_id)
        return conv

    def has(self, report_id: str) -> bool:
        return report_id in self._conversations

    def conversations(self, between: tuple[float, float] | None = None) -> list[Conversation]:
        """Newest activity first; empty conversations (just opened) by when they were opened.
        With `between` (start, end unix seconds), only those with a message in it."""
        chosen = list(self._conversations.values())
        if between is not None:
            start, end = between
            chosen = [c for c in chosen if any(start <= e.at <= end for e in c.entries)]
        return sorted(chosen, key=lambda c: (c.last_at, c.report_id), reverse=True)

    def messages(self, report_id: str) -> list[ChatEntry]:
        conv = self._conversations.get(report_id)
        return list(conv.entries) if conv else []

    def unread(self, report_id: str) -> int:
        conv = self._conversations.get(report_id)
        return conv.unread if conv else 0

    def total_unread(self) -> int:
        return sum(c.unread for c in self._conversations.values())

    def find(self, key: str) -> ChatEntry | None:
        for conv in self._conversations.values():
            for e in conv.entries:
                if e.key == key:
                    return e
        return None

    # ------------------------------------------------------------------ changes

    def set_title(self, report_id: str, title: str) -> None:
        self.conversation(report_id).title = title

    def add_message(self, msg: m.ChatMessage) -> bool:
        """A message the relay knows (posted or confirmed). True if anything changed."""
        conv = self.conversation(msg.report_id)
        for i, e in enumerate(conv.entries):
            if e.key == msg.message_id:
                status = _forward(e.status, msg.status)
                if status == e.status:
                    return False
                conv.entries[i] = replace(e, status=status)
                return True
        if msg.sender == "officer":
            # Our own reply may be posted back before the outbox hears it was confirmed:
            # it replaces the oldest queued reply by the same officer with the same text
            # (so it is never shown twice).
            for e in conv.entries:
                if e.status == "queued" and e.text == msg.text and e.author == msg.author:
                    conv.entries.remove(e)
                    break
        entry = ChatEntry(
            key=msg.message_id,
            report_id=msg.report_id,
            sender=msg.sender,
            author=msg.author,
            text=msg.text,
            at=msg.sent_at,
            status=msg.status,
            order=next(self._order),
        )
        self._insert(conv, entry)
        return True

    def remove(self, report_id: str) -> bool:
        """Forget a conversation entirely (its citizen erased it); True if it was here."""
        conv = self._conversations.pop(report_id, None)
        self._idem_report = {k: v for k, v in self._idem_report.items() if v != report_id}
        return conv is not None

    def add_messages(self, msgs: Iterable[m.ChatMessage]) -> None:
        for msg in msgs:
            self.add_message(msg)

    def queue(self, idem: str, report_id: str, text: str, author: str, at: float) -> bool:
        """An officer reply written to the outbox, not yet confirmed by the relay."""
        key = f"queued:{idem}"
        conv = self.conversation(report_id)
        if any(e.key == key for e in conv.entries):
            return False
        self._idem_report[idem] = report_id
        entry = ChatEntry(
            key=key,
            report_id=report_id,
            sender="officer",
            author=author,
            text=text,
            at=at,
            status="queued",
            idem=idem,
            order=next(self._order),
        )
        self._insert(conv, entry)
        return True

    def confirm(self, idem: str, msg: m.ChatMessage) -> None:
        """The relay accepted a queued reply: the real message replaces the queued one."""
        conv = self.conversation(msg.report_id)
        conv.entries = [e for e in conv.entries if e.key != f"queued:{idem}"]
        self._idem_report.pop(idem, None)
        self.add_message(msg)

    def refuse(self, idem: str, reason: str) -> str | None:
        """The relay refused a queued reply; it stays, marked refused. Returns its report."""
        report_id = self._idem_report.pop(idem, None)
        if report_id is None:
            return None
        conv = self.conversation(report_id)
        for i, e in enumerate(conv.entries):
            if e.key == f"queued:{idem}":
                conv.entries[i] = replace(e, status="refused", error=reason)
        return report_id

    def set_status(self, message_id: str, report_id: str, status: str) -> bool:
        """A receipt. Moves forward only; True if the mark changed."""
        conv = self._conversations.get(report_id)
        if conv is None:
            return False
        for i, e in enumerate(conv.entries):
            if e.key == message_id:
                new = _forward(e.status, status)
                if new == e.status:
                    return False
                conv.entries[i] = replace(e, status=new)
                if new == "read":
                    conv.marked_read.discard(message_id)
                return True
        return False

    def mark_read_locally(self, report_id: str) -> list[str]:
        """Citizen messages to tell the relay about; they stop counting as unread now."""
        conv = self.conversation(report_id)
        ids = conv.unread_ids()
        conv.marked_read.update(ids)
        return ids

    def unmark_read(self, report_id: str, ids: Iterable[str]) -> None:
        """The relay was not told after all (offline, refused): count them as unread again."""
        self.conversation(report_id).marked_read.difference_update(ids)

    # ------------------------------------------------------------------ internals

    @staticmethod
    def _insert(conv: Conversation, entry: ChatEntry) -> None:
        conv.entries.append(entry)
        conv.entries.sort(key=lambda e: (e.at, e.order))


def _forward(current: str, new: str) -> str:
    """The later of two statuses; a queued or refused entry is replaced, not upgraded."""
    return new if RANK.get(new, 0) > RANK.get(current, 0) else current


# ---------------------------------------------------------------------- how it reads


def clock(ts: float, now: float | None = None) -> str:
    """A message's time: "14:05" today, "03 Jan 14:05" on any other day."""
    when = datetime.fromtimestamp(ts)
    today = datetime.fromtimestamp(time.time() if now is None else now).date()
    return when.strftime("%H:%M") if when.date() == today else when.strftime("%d %b %H:%M")


def mark_text(entry: ChatEntry) -> str:
    """The delivery mark an officer reply carries (citizen messages carry none)."""
    if entry.sender != "officer":
        return ""
    return {
        "queued": "◷ queued",
        "sent": "✓",
        "delivered": "✓✓",
        "read": "✓✓ read",
    }.get(entry.status, f"⚠ refused: {entry.error}" if entry.status == "refused" else "")


def meta_text(entry: ChatEntry, now: float | None = None) -> str:
    """Who wrote a message and when; a citizen is marked as the reporter."""
    who = entry.author if entry.sender == "officer" else f"{entry.author} (reporter)"
    return f"{who} · {clock(entry.at, now)}"


def conversation_title(report_id: str, report: m.Report | None, tombstoned: bool = False) -> str:
    """A conversation is named for its report's category (the shared label) and reporter;
    a kept report whose citizen erased their data says so (nobody reads replies there);
    an exercise report's conversation starts with the word, in the list and the title."""
    if report is None:
        return f"Report {report_id[:8]}"
    who = reporter_text(report.reporter, tombstoned)
    title = f"{rules.category_label(report.category)} · {who}"
    return f"{EXERCISE} · {title}" if is_exercise_report(report) else title


def list_text(conv: Conversation) -> str:
    """A conversation's row in the list: its title, then its last message on one line."""
    last = conv.last()
    snippet = " ".join(last.text.split())[:80] if last else "No messages yet"
    return f"{conv.title or conv.report_id}\n{snippet}"


def conversation_matches(conv: Conversation, needle: str) -> bool:
    """Whether a search finds the conversation: `needle` (case-insensitive; blank finds
    every one) in its title (category and reporter's pseudonym), report id, or any
    message's text or author (a citizen's author is the reporter's pseudonym)."""
    n = " ".join(needle.split()).casefold()
    if not n:
        return True
    if n in conv.title.casefold() or n in conv.report_id.casefold():
        return True
    return any(n in e.text.casefold() or n in e.author.casefold() for e in conv.entries)
