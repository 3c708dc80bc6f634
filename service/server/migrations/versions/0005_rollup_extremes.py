"""Hourly roll-ups keep each histogram bin's smallest and largest value, so a chart of a period past retention reads
p10 as closely as it did from the raw records. Roll-ups made before have none (null): their p10 stays within 0.05.

Revision ID: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("record_rollups", sa.Column("bin_low", sa.JSON, nullable=True))
    op.add_column("record_rollups", sa.Column("bin_high", sa.JSON, nullable=True))
