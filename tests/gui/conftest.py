"""Fixtures the console's widget tests share (a test file's own fixture of the same name
takes precedence)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from console.session import ConsoleSession
from tests.support.console import offline_session


@pytest.fixture
def session(tmp_path: Path) -> Iterator[ConsoleSession]:
    """The dispatcher dana's session, offline: events go in through `dispatch`, requests
    wait in the outbox."""
    session = offline_session(tmp_path, "dana")
    session.client.role = "dispatcher"
    yield session
    session.client.outbox.close()
