"""Helpers shared by the test suite: a real relay over TLS, and thin wire peers."""
