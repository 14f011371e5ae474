"""what one relay tells the others sharing the database

Revision ID: 0012
Revises: 0011
Create Date: 2027-04-01 12:00:00

Several relays on one PostgreSQL database (docs/scaling.md) keep their device indexes
current, deliver each other's alerts and chat marks, and close a phone's older connection
on another node from this table, read in seq order. A single relay (SQLite) writes nothing
here.
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "node_notes",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("node", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=True),
        sa.Column("ref", sa.String(length=64), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("mask", sa.BigInteger(), nullable=True),
        sa.Column("expires", sa.Float(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint("seq"),
    )
    with op.batch_alter_table("node_notes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_node_notes_at"), ["at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("node_notes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_node_notes_at"))
    op.drop_table("node_notes")
