"""every version of every alert, append-only (evidence packages export them all)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05 10:00:00

Until now an update or a cancel overwrote the alert's row. Alerts older than this
migration get one version, their current one, with cap_xml NULL: the CAP text they were
sent with was never kept, and rendering it here would need the relay's code as it is
today (an evidence export renders it and marks it so). Pending update proposals are not
alerts of their own (their references hold `update-of`) and get no version.
"""

import time

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("msg_type", sa.String(length=10), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("info_json", sa.Text(), nullable=False),
        sa.Column("references_json", sa.Text(), nullable=False),
        sa.Column("sent_at", sa.Float(), nullable=False),
        sa.Column("approved_by", sa.String(length=200), nullable=True),
        sa.Column("cap_xml", sa.Text(), nullable=True),
        sa.Column("recorded_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("alert_id", "n"),
    )
    with op.batch_alter_table("alert_versions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alert_versions_alert_id"), ["alert_id"], unique=False)
    alerts = sa.table(
        "alerts",
        sa.column("id", sa.Integer),
        sa.column("msg_type", sa.String),
        sa.column("state", sa.String),
        sa.column("info_json", sa.Text),
        sa.column("references_json", sa.Text),
        sa.column("sent_at", sa.Float),
        sa.column("approved_by", sa.String),
    )
    versions = sa.table(
        "alert_versions",
        sa.column("alert_id", sa.Integer),
        sa.column("n", sa.Integer),
        sa.column("msg_type", sa.String),
        sa.column("state", sa.String),
        sa.column("info_json", sa.Text),
        sa.column("references_json", sa.Text),
        sa.column("sent_at", sa.Float),
        sa.column("approved_by", sa.String),
        sa.column("cap_xml", sa.Text),
        sa.column("recorded_at", sa.Float),
    )
    conn = op.get_bind()
    now = time.time()
    rows = [
        {
            "alert_id": a.id,
            "n": 1,
            "msg_type": a.msg_type,
            "state": a.state,
            "info_json": a.info_json,
            "references_json": a.references_json or "[]",
            "sent_at": a.sent_at,
            "approved_by": a.approved_by,
            "cap_xml": None,
            "recorded_at": now,
        }
        for a in conn.execute(sa.select(alerts))
        if '"update-of"' not in (a.references_json or "")
    ]
    if rows:
        op.bulk_insert(versions, rows)


def downgrade() -> None:
    with op.batch_alter_table("alert_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alert_versions_alert_id"))
    op.drop_table("alert_versions")
