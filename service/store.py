"""Durable batch state: each job, its input rows and each row's result, written as rows finish.

SQLite by default (RAGMETER_DB); any SQLAlchemy URL (PostgreSQL included) works. A row is
`pending` until it is `scored` or `error`, so a restarted service knows exactly what is left.
"""
from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text, create_engine, func, select, update
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

PENDING, SCORED, ERROR = "pending", "scored", "error"
QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
UNFINISHED = (QUEUED, RUNNING)


class Base(DeclarativeBase):
    pass


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    filename: Mapped[str] = mapped_column(String(512))
    total: Mapped[int] = mapped_column(Integer)
    metrics: Mapped[list] = mapped_column(JSON)
    gate: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Rows already finished when this run started: the rate counts only rows finished since.
    done_at_start: Mapped[int] = mapped_column(Integer, default=0)


class Row(Base):
    __tablename__ = "rows"

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    index: Mapped[int] = mapped_column(Integer, primary_key=True)
    sample: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), index=True, default=PENDING)
    result: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # How many times a worker picked the row up; more than one only after a crash mid-row.
    attempts: Mapped[int] = mapped_column(Integer, default=0)


def now() -> datetime:
    return datetime.now(UTC)


class Store:
    def __init__(self, url: str):
        if url.startswith("sqlite"):
            self.engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        else:
            self.engine = create_engine(url, pool_pre_ping=True)
        Base.metadata.create_all(self.engine)
        self.session = sessionmaker(self.engine, expire_on_commit=False)

    def create_job(self, filename: str, samples: list[dict], metrics: list[str], gate: dict) -> Job:
        job = Job(id=str(uuid.uuid4()), status=QUEUED, filename=filename, total=len(samples), metrics=metrics,
                  gate=gate, created_at=now(), done_at_start=0)
        with self.session.begin() as s:
            s.add(job)
            s.flush()
            s.add_all(Row(job_id=job.id, index=i, sample=sample, status=PENDING, attempts=0)
                      for i, sample in enumerate(samples))
        return job

    def job(self, job_id: str) -> Job | None:
        with self.session() as s:
            return s.get(Job, job_id)

    def jobs(self, limit: int = 100) -> list[Job]:
        with self.session() as s:
            return list(s.scalars(select(Job).order_by(Job.created_at.desc()).limit(limit)))

    def unfinished(self) -> list[Job]:
        with self.session() as s:
            return list(s.scalars(select(Job).where(Job.status.in_(UNFINISHED)).order_by(Job.created_at)))

    def set_status(self, job_id: str, status: str, message: str | None = None) -> None:
        values: dict = {"status": status}
        if status == RUNNING:
            values["started_at"] = now()
            values["done_at_start"] = sum(n for state, n in self.counts(job_id).items() if state != PENDING)
        if status in (DONE, FAILED, CANCELLED):
            values["finished_at"] = now()
        if message is not None:
            values["message"] = message
        with self.session.begin() as s:
            s.execute(update(Job).where(Job.id == job_id).values(**values))

    def counts(self, job_id: str) -> dict[str, int]:
        with self.session() as s:
            pairs = s.execute(select(Row.status, func.count()).where(Row.job_id == job_id).group_by(Row.status))
            return {status: n for status, n in pairs}

    def pending(self, job_id: str, limit: int) -> list[Row]:
        with self.session() as s:
            return list(s.scalars(select(Row).where(Row.job_id == job_id, Row.status == PENDING)
                                  .order_by(Row.index).limit(limit)))

    def mark_started(self, job_id: str, index: int) -> None:
        with self.session.begin() as s:
            s.execute(update(Row).where(Row.job_id == job_id, Row.index == index)
                      .values(attempts=Row.attempts + 1))

    def finish_row(self, job_id: str, index: int, result: dict | None, error: str | None) -> None:
        with self.session.begin() as s:
            s.execute(update(Row).where(Row.job_id == job_id, Row.index == index, Row.status == PENDING)
                      .values(status=SCORED if error is None else ERROR, result=result, error=error))

    def rows(self, job_id: str) -> list[Row]:
        with self.session() as s:
            return list(s.scalars(select(Row).where(Row.job_id == job_id).order_by(Row.index)))

    def close(self) -> None:
        self.engine.dispose()
