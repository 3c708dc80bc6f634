"""Row leases: which process is scoring a pending row, until when; claims look rows up by job and status.

Revision ID: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("rows", sa.Column("lease_owner", sa.String(64), nullable=True))
    op.add_column("rows", sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_rows_job_status", "rows", ["job_id", "status"])
    op.create_index("ix_rows_lease_owner", "rows", ["lease_owner"])
