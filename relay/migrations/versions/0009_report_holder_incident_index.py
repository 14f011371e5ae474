"""index reports by holder, by incident and by primary

Revision ID: 0009
Revises: 0008
Create Date: 2027-03-02 10:00:00

Issue 13: `team.list` and every `team.changed` push read the reports each signed-in officer
holds, and linking or merging reads an incident's reports; without an index each of those
scanned every report (about 90 ms at 1,000,000 reports, the link in the writer); a merge
reads whether a report it marks as a duplicate is some other reports' primary.
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reports_claimed_by"), ["claimed_by"], unique=False)
        batch_op.create_index(batch_op.f("ix_reports_incident_ref"), ["incident_ref"], unique=False)
        batch_op.create_index(batch_op.f("ix_reports_duplicate_of"), ["duplicate_of"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reports_duplicate_of"))
        batch_op.drop_index(batch_op.f("ix_reports_incident_ref"))
        batch_op.drop_index(batch_op.f("ix_reports_claimed_by"))
