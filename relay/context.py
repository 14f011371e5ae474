"""What a connection may use: the relay's services, and nothing of the relay itself.

`Relay` (the composition root, relay/server.py) builds one and hands it to every
endpoint; a unit test builds one over a temporary database and drives an endpoint with raw
frames, no server and no socket.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from relay.config import RelayConfig
from relay.db.uow import Database
from relay.delivery import Delivery
from relay.hub import Hub
from relay.media import MediaStore
from relay.metrics import Metrics
from relay.ratelimit import SharedLimits
from relay.signin import SignIn
from relay.targeting import DeviceIndex

if TYPE_CHECKING:
    from relay.mail.service import Mail

#: run a coroutine in the background, owned (and cancelled at shutdown) by the relay
Spawn = Callable[[Coroutine[Any, Any, Any]], asyncio.Task[Any]]


@dataclass(frozen=True)
class RelayContext:
    config: RelayConfig
    db: Database
    hub: Hub
    index: DeviceIndex
    media: MediaStore
    metrics: Metrics
    spawn: Spawn
    delivery: Delivery
    signin: SignIn  # login limits, password hashing, token bindings (relay/signin.py)
    #: per-device and per-address limit tables, shared by every connection
    limits: SharedLimits = field(default_factory=SharedLimits)
    #: email alerts (relay/mail); None when no SMTP server is configured
    mail: Mail | None = None
