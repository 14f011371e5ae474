"""Relay backend: websockets over TLS, storage, targeting, media, accounts, audit. No Qt."""
