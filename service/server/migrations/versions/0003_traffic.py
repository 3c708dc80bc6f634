"""Production traffic: records scored in the background, hourly roll-ups, alert rules and their events.

Revision ID: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "records",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("tenant", sa.String(64), nullable=True),
        sa.Column("app", sa.String(128), nullable=False),
        sa.Column("ts", TZ, nullable=False),
        sa.Column("received_at", TZ, nullable=False),
        sa.Column("trace_id", sa.String(64), nullable=True),
        sa.Column("dedupe_key", sa.String(400), nullable=True, unique=True),
        # meta before the large JSON columns: SQLite then finds it in a row's first page when slicing.
        sa.Column("meta", sa.JSON, nullable=False),
        sa.Column("sample", sa.JSON, nullable=False),
        sa.Column("metrics", sa.JSON, nullable=False),
        sa.Column("gate", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("result", sa.JSON, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("lease_until", TZ, nullable=True),
        sa.Column("scored_at", TZ, nullable=True),
        sa.Column("faithfulness", sa.Float, nullable=True),
        sa.Column("answer_relevancy", sa.Float, nullable=True),
        sa.Column("context_precision", sa.Float, nullable=True),
        sa.Column("context_recall", sa.Float, nullable=True),
        sa.Column("gate_passed", sa.Boolean, nullable=True),
    )
    # Covers what monitoring and alerts read, so a series scans the index alone (see tables.Record).
    op.create_index("ix_records_tenant_app_ts", "records",
                    ["tenant", "app", "ts", "status", "faithfulness", "answer_relevancy", "context_precision",
                     "context_recall", "gate_passed"])
    op.create_index("ix_records_status_received", "records", ["status", "received_at"])
    op.create_index("ix_records_status_tenant", "records", ["status", "tenant"])
    # Across apps by time: retention's oldest-hour search and the Prometheus window's scrape.
    op.create_index("ix_records_ts", "records", ["ts"])
    op.create_index("ix_records_lease_owner", "records", ["lease_owner"])
    op.create_table(
        "record_rollups",
        sa.Column("tenant", sa.String(64), primary_key=True),
        sa.Column("app", sa.String(128), primary_key=True),
        sa.Column("hour", TZ, primary_key=True),
        sa.Column("metric", sa.String(32), primary_key=True),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("total", sa.Float, nullable=False),
        sa.Column("total_sq", sa.Float, nullable=False),
        sa.Column("hist", sa.JSON, nullable=False),
    )
    op.create_table(
        "alert_rules",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("tenant", sa.String(64), nullable=True, index=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("app", sa.String(128), nullable=True),
        sa.Column("metric", sa.String(32), nullable=False),
        sa.Column("slice", sa.JSON, nullable=False),
        sa.Column("window_s", sa.Float, nullable=False),
        sa.Column("threshold", sa.Float, nullable=False),
        sa.Column("min_count", sa.Integer, nullable=False),
        sa.Column("webhook_url", sa.Text, nullable=True),
        sa.Column("secret", sa.Text, nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("state_since", TZ, nullable=True),
        sa.Column("last_value", sa.Float, nullable=True),
        sa.Column("last_count", sa.Integer, nullable=True),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_table(
        "alert_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("rule_id", sa.String(36), sa.ForeignKey("alert_rules.id", ondelete="CASCADE"), nullable=False,
                  index=True),
        sa.Column("tenant", sa.String(64), nullable=True, index=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.Column("value", sa.Float, nullable=True),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("delivered_at", TZ, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", TZ, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
    )
