"""loop scenarios: each scenario's deployment policy and monitoring overrides

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 16:21:14.466735
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "scenarios",
        sa.Column(
            "deployment_policy", sa.String(length=16), nullable=False, server_default="auto"
        ),
    )
    op.add_column(
        "scenarios",
        sa.Column(
            "monitoring",
            postgresql.JSONB(astext_type=sa.Text()),
            nullable=False,
            server_default=sa.text("'{}'::jsonb"),
        ),
    )


def downgrade() -> None:
    op.drop_column("scenarios", "monitoring")
    op.drop_column("scenarios", "deployment_policy")
