"""an incident remembers its pilot

Revision ID: 0011
Revises: 0010
Create Date: 2027-03-02 12:00:00

An incident's traffic (live or one pilot's) was read from the reports linked to it, so
an exercise incident whose reports were all unlinked took live reports (with a title in
the exercise's words), and the pilot's purge could not tell it was the pilot's. Existing
incidents have none: their reports decide, as before.
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pilot_id", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_incidents_pilot_id"), ["pilot_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_incidents_pilot_id"))
        batch_op.drop_column("pilot_id")
