"""officer sign-in: single-use TOTP steps and an absolute session start

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 10:00:00

Sessions open before this migration get started_at 0: past any lifetime, so their
officers sign in again once (password + TOTP) after the upgrade. Plain TOTP secrets are
sealed by the relay at start-up (relay/secret_box.py): the key is not in the database,
so a migration cannot do it.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("officers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("totp_last_step", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("officer_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("started_at", sa.Float(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("officer_sessions", schema=None) as batch_op:
        batch_op.drop_column("started_at")
    with op.batch_alter_table("officers", schema=None) as batch_op:
        batch_op.drop_column("totp_last_step")
