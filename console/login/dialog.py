"""Placeholder until the login dialog lands."""

from __future__ import annotations

from typing import Any


class LoginDialog:
    def __init__(self, relay: str | None = None, user: str | None = None) -> None:
        self.relay, self.user = relay, user

    async def ask(self) -> Any:
        raise SystemExit("the login dialog is not built yet: use --demo")
