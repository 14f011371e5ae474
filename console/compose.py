"""Opening a console session: the one place its parts are built and closed.

The app (after the login dialog, or from a session source such as the demo's embedded
relay), widget tests and the screenshot script all open sessions here, so the cache, the
outbox, the client and the `ConsoleSession` are wired the same way everywhere.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from backend_client.client import ClientConfig, Credentials, RelayClient
from backend_client.outbox import Outbox
from console.session import ConsoleSession

if TYPE_CHECKING:
    from backend_client.cache import LocalCache

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OpenedSession:
    """A session and what was opened for it; `close()` undoes it in reverse order."""

    session: ConsoleSession
    cache: LocalCache | None

    async def close(self) -> None:
        await self.session.stop()
        self.session.client.outbox.close()
        if self.cache is not None:
            self.cache.close()


def open_session(
    config: ClientConfig, credentials: Credentials, home: Path, *, local_cache: bool = True
) -> OpenedSession:
    """Build, not start, a session whose files live in `home`.

    The local cache (when it can be unlocked) is also the client's event sink, so a restart
    resumes after the last event it stored; the outbox lives beside it. The session is not
    started: a caller may show its window first, and a widget test never starts one.
    `local_cache=False` is for sessions whose history must not outlive them.
    """
    home.mkdir(parents=True, exist_ok=True)
    cache = open_cache(home, credentials, config) if local_cache else None
    outbox = Outbox(home / "outbox.sqlite")
    client = RelayClient(config, credentials, outbox, sink=cache)
    return OpenedSession(ConsoleSession(client, cache), cache)


def open_cache(
    home: Path, credentials: Credentials, config: ClientConfig | None = None
) -> LocalCache | None:
    """The officer's local cache in `home`, or None (logged) when no key can unlock it: the
    console then works from the live link alone, which is better than not starting.

    The cache belongs to one relay (`config`'s identity): a cache of another relay (the
    demo's previous relay on the same --data-dir, a rebuilt relay) is set aside with the
    outbox of actions meant for it, both kept under dated names, and a fresh cache begins:
    the console never shows one relay's reports as another's."""
    # imported here: the cache pulls in SQLAlchemy, Alembic and the keyring, which a widget
    # test's offline session never needs
    from backend_client.cache import (
        LocalCache,
        NoKeyAvailable,
        RelayChanged,
        cache_key,
        relay_identity,
        set_aside,
    )

    try:
        key = cache_key(
            account=credentials.username,
            passphrase=credentials.password,
            salt_path=home / "cache.salt",
        )
    except NoKeyAvailable as exc:
        log.warning("no local cache: %s", exc)
        return None
    relay = (
        None if config is None else relay_identity(config.url, config.pin_sha256, config.ca_file)
    )
    path = home / "cache.sqlite"
    try:
        return LocalCache(path, key, relay=relay)
    except RelayChanged as exc:
        kept = set_aside(path)
        set_aside(home / "outbox.sqlite")
        log.warning("%s: kept aside as %s; starting a fresh cache for this relay", exc, kept)
    return LocalCache(path, key, relay=relay)
