"""Integration fixtures shared by modules: one throwaway PostgreSQL cluster per session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import postgres


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[postgres.PostgresCluster]:
    """Skips (with the reason) without PostgreSQL server binaries, unless
    LOOKOUT_REQUIRE_POSTGRES=1 makes that a failure."""
    try:
        cluster = postgres.start_cluster()
    except postgres.PostgresUnavailable as exc:
        if postgres.required():
            pytest.fail(f"LOOKOUT_REQUIRE_POSTGRES is set but: {exc}")
        pytest.skip(f"PostgreSQL runs skipped: {exc}")
    try:
        yield cluster
    finally:
        cluster.stop()
