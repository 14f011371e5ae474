"""idempotency keys remember their request

Revision ID: 0010
Revises: 0009
Create Date: 2027-03-02 11:00:00

An officer's idempotency key reused for a different request (another report, another
action) was answered with the first request's stored reply: a console took a note's
reply for a merge's success and the merge was lost. Each kept reply now stores the
SHA-256 of its request (without its `id`), and a different request under the same key is
refused (`conflict`). Replies kept before this have none and are matched as before.
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("idempotency", schema=None) as batch_op:
        batch_op.add_column(sa.Column("request_sha256", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("idempotency", schema=None) as batch_op:
        batch_op.drop_column("request_sha256")
