"""feedback: the feedback log (monitor), range-partitioned by day like the predictions

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 16:30:00
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feedback",
        sa.Column("predicted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("scenario_id", sa.Uuid(), nullable=False),
        sa.Column("prediction_id", sa.String(length=64), nullable=False),
        sa.Column("actual", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("predicted_at", "scenario_id", "prediction_id"),
        postgresql_partition_by="RANGE (predicted_at)",
    )
    op.create_index("ix_feedback_received", "feedback", ["received_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_feedback_received", table_name="feedback")
    op.drop_table("feedback")
