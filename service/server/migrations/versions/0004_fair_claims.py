"""Fair claims of production records: the runner takes each tenant's oldest pending record in turn.

One index (status, tenant, received_at) replaces two: its prefix still counts a tenant's backlog, and the claim
reads a tenant's oldest pending record from it without sorting the backlog. Nothing claims by received_at alone
any more, so (status, received_at) goes.

Revision ID: 0004
"""
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_records_status_tenant_received", "records", ["status", "tenant", "received_at"])
    op.drop_index("ix_records_status_tenant", table_name="records")
    op.drop_index("ix_records_status_received", table_name="records")

