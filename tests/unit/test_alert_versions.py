"""Migration 0004 gives every alert that existed before it its current version."""

from __future__ import annotations

import json
import time

from alembic import command
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from relay.db import models as db
from relay.db.engine import alembic_config, make_engine, migrate, sqlite_url
from tests.support.flows import alert_info


def test_existing_alerts_are_backfilled_with_their_current_version(tmp_path):
    import msgspec

    engine = make_engine(sqlite_url(tmp_path))
    try:
        cfg = alembic_config(str(engine.url))
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0003")
        info = json.dumps(msgspec.to_builtins(alert_info()))
        now = time.time()
        with engine.begin() as conn:
            for pid, refs in (("A-old", "[]"), ("A-prop", '[["update-of", "A-old"]]')):
                conn.execute(
                    text(
                        "INSERT INTO alerts (public_id, sender, sent_at, msg_type, state, "
                        "info_json, expires_at, recipients, delivered, read, approved_by, "
                        "references_json) VALUES (:p, 'dana', :t, 'Update', 'active', :i, "
                        ":e, 3, 0, 0, 'dana', :r)"
                    ),
                    {"p": pid, "t": now, "i": info, "e": now + 3600, "r": refs},
                )
        migrate(engine)
        with Session(engine) as s:
            rows = list(
                s.execute(select(db.Alert.public_id, db.AlertVersion).join(db.AlertVersion))
            )
    finally:
        engine.dispose()
    assert [(pid, v.n, v.msg_type, v.cap_xml) for pid, v in rows] == [("A-old", 1, "Update", None)]
    assert rows[0][1].info_json == info
