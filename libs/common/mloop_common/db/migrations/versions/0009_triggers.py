"""triggers and firings (scheduler)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24 16:30:00
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "triggers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("scenario_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("config", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("cooldown_seconds", sa.Float(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("last_fired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_fire_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["scenario_id"], ["scenarios.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("scenario_id", "name"),
    )
    op.create_index(op.f("ix_triggers_scenario_id"), "triggers", ["scenario_id"], unique=False)
    op.create_index("ix_triggers_clock", "triggers", ["kind", "next_fire_at"], unique=False)
    op.create_table(
        "trigger_firings",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("trigger_id", sa.Uuid(), nullable=False),
        sa.Column("scenario_id", sa.Uuid(), nullable=False),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("dedup_key", sa.String(length=200), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=True),
        sa.Column("workflow_run_id", sa.Uuid(), nullable=True),
        sa.Column("detail", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.ForeignKeyConstraint(["trigger_id"], ["triggers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("trigger_id", "dedup_key"),
    )
    op.create_index(
        "ix_trigger_firings_page", "trigger_firings", ["trigger_id", "at", "id"], unique=False
    )
    op.create_index(
        "ix_trigger_firings_scenario",
        "trigger_firings",
        ["scenario_id", "outcome", "at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_trigger_firings_scenario", table_name="trigger_firings")
    op.drop_index("ix_trigger_firings_page", table_name="trigger_firings")
    op.drop_table("trigger_firings")
    op.drop_index("ix_triggers_clock", table_name="triggers")
    op.drop_index(op.f("ix_triggers_scenario_id"), table_name="triggers")
    op.drop_table("triggers")
