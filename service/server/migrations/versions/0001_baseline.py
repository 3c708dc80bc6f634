"""Baseline: jobs, rows and api_keys as ragmeter made them with create_all before migrations.

A database from before migrations already has these tables, perhaps without columns added since
(the tenant of a job, rows' attempts): those are added, every job and row kept.

Revision ID: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def tables() -> list[sa.Table]:
    meta = sa.MetaData()
    return [
        sa.Table("jobs", meta,
                 sa.Column("id", sa.String(36), primary_key=True),
                 sa.Column("status", sa.String(16), nullable=False, index=True),
                 sa.Column("filename", sa.String(512), nullable=False),
                 sa.Column("total", sa.Integer, nullable=False),
                 sa.Column("metrics", sa.JSON, nullable=False),
                 sa.Column("gate", sa.JSON, nullable=False),
                 sa.Column("created_at", TZ, nullable=False),
                 sa.Column("started_at", TZ, nullable=True),
                 sa.Column("finished_at", TZ, nullable=True),
                 sa.Column("message", sa.Text, nullable=True),
                 sa.Column("done_at_start", sa.Integer, nullable=False, server_default="0"),
                 sa.Column("tenant", sa.String(64), nullable=True, index=True)),
        sa.Table("rows", meta,
                 sa.Column("job_id", sa.String(36), sa.ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True),
                 sa.Column("index", sa.Integer, primary_key=True),
                 sa.Column("sample", sa.JSON, nullable=False),
                 sa.Column("status", sa.String(16), nullable=False, index=True),
                 sa.Column("result", sa.JSON, nullable=True),
                 sa.Column("error", sa.Text, nullable=True),
                 sa.Column("attempts", sa.Integer, nullable=False, server_default="0")),
        sa.Table("api_keys", meta,
                 sa.Column("name", sa.String(64), primary_key=True),
                 sa.Column("tenant", sa.String(64), nullable=False),
                 sa.Column("key_hash", sa.String(64), nullable=False, index=True),
                 sa.Column("created_at", TZ, nullable=False),
                 sa.Column("revoked_at", TZ, nullable=True)),
    ]


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    for table in tables():
        if not inspector.has_table(table.name):
            table.create(op.get_bind())
            continue
        have = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name not in have:
                op.add_column(table.name, sa.Column(column.name, column.type, nullable=column.nullable,
                                                    server_default=column.server_default))
        indexed = {i["name"] for i in inspector.get_indexes(table.name)}
        for index in table.indexes:
            if index.name not in indexed:
                op.create_index(index.name, table.name, [c.name for c in index.columns])
