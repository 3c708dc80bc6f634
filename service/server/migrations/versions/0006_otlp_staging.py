"""OTLP spans waiting for their trace's root are kept in the database (durable, shared by replicas), with the
traces mapped lately.

Revision ID: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "otlp_spans",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("trace_id", sa.String(64), nullable=False),
        sa.Column("span_id", sa.String(64), nullable=False),
        sa.Column("received_at", TZ, nullable=False),
        sa.Column("span", sa.Text, nullable=False),
        sa.UniqueConstraint("tenant", "trace_id", "span_id", name="uq_otlp_spans_span"),
    )
    op.create_index("ix_otlp_spans_received_at", "otlp_spans", ["received_at"])
    op.create_table(
        "otlp_done",
        sa.Column("tenant", sa.String(64), primary_key=True),
        sa.Column("trace_id", sa.String(64), primary_key=True),
        sa.Column("done_at", TZ, nullable=False),
    )
    op.create_index("ix_otlp_done_done_at", "otlp_done", ["done_at"])
