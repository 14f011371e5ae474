"""email alerts: subscriptions, the outbound queue, email counts on alerts

Revision ID: 0005
Revises: 0004
Create Date: 2027-01-10 10:00:00

Residents sign up for alerts by email (issue 11). Addresses are sealed (AES-GCM) and
hashed (HMAC) by the relay before they reach these tables; the outbox holds one row per
email, written in the transaction of the alert version that made it due.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "email_subscriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("address_hmac", sa.String(length=64), nullable=True),
        sa.Column("address_sealed", sa.Text(), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("radius_m", sa.Float(), nullable=False),
        sa.Column("category_mask", sa.BigInteger(), nullable=False),
        sa.Column("confirm_hash", sa.String(length=64), nullable=True),
        sa.Column("confirm_expires_at", sa.Float(), nullable=True),
        sa.Column("unsub_salt", sa.String(length=64), nullable=False),
        sa.Column("unsub_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("confirmed_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("confirm_hash"),
        sa.UniqueConstraint("unsub_hash"),
    )
    with op.batch_alter_table("email_subscriptions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_email_subscriptions_state"), ["state"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_email_subscriptions_address_hmac"), ["address_hmac"], unique=False
        )
    op.create_table(
        "email_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscription_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=True),
        sa.Column("version_n", sa.Integer(), nullable=True),
        sa.Column("message_id", sa.String(length=120), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.Float(), nullable=False),
        sa.Column("lease_owner", sa.String(length=40), nullable=True),
        sa.Column("lease_until", sa.Float(), nullable=True),
        sa.Column("secret_sealed", sa.Text(), nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("sent_at", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"]),
        sa.ForeignKeyConstraint(["subscription_id"], ["email_subscriptions.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_id"),
        sa.UniqueConstraint("subscription_id", "alert_id", "version_n"),
    )
    with op.batch_alter_table("email_outbox", schema=None) as batch_op:
        batch_op.create_index("ix_email_outbox_due", ["state", "next_attempt_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_email_outbox_subscription_id"), ["subscription_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_email_outbox_alert_id"), ["alert_id"], unique=False)
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        for name in ("emails", "emails_sent", "emails_failed"):
            batch_op.add_column(sa.Column(name, sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        for name in ("emails_failed", "emails_sent", "emails"):
            batch_op.drop_column(name)
    with op.batch_alter_table("email_outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_email_outbox_alert_id"))
        batch_op.drop_index(batch_op.f("ix_email_outbox_subscription_id"))
        batch_op.drop_index("ix_email_outbox_due")
    op.drop_table("email_outbox")
    with op.batch_alter_table("email_subscriptions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_email_subscriptions_address_hmac"))
        batch_op.drop_index(batch_op.f("ix_email_subscriptions_state"))
    op.drop_table("email_subscriptions")
