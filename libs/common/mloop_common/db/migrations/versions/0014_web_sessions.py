"""dashboard sign-in sessions (gateway)

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-24 19:45:00
"""

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
