"""a report's close reason, duplicates, internal notes; audit read by subject

Revision ID: 0008
Revises: 0007
Create Date: 2027-03-01 10:00:00

Issue 13: a dispatcher closes a report with a reason and can reopen it (the reason is
cleared then), merges duplicates under one incident, and writes officer-only notes on a
report. A report's and an alert's history are read from the audit log by subject, so
that column gets an index. Existing reports have no reason, duplicate or notes.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "report_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=40), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("author", sa.String(length=200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["report_id"], ["reports.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("public_id"),
    )
    with op.batch_alter_table("report_notes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_report_notes_report_id"), ["report_id"], unique=False)
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.add_column(sa.Column("close_reason", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("duplicate_of", sa.String(length=40), nullable=True))
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index("ix_audit_log_subject", ["subject"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_subject")
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.drop_column("duplicate_of")
        batch_op.drop_column("close_reason")
    with op.batch_alter_table("report_notes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_report_notes_report_id"))
    op.drop_table("report_notes")
