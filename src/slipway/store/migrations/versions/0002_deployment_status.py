"""deployment status

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deployment_status",
        sa.Column("environment", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("desired_revision", sa.String(length=64), nullable=True),
        sa.Column("observed_revision", sa.String(length=64), nullable=True),
        sa.Column("status_json", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("environment", "name"),
    )


def downgrade() -> None:
    op.drop_table("deployment_status")
