"""Durable batch state: each job, its input rows and each row's result, written as rows finish.

SQLite by default (RAGMETER_DB); PostgreSQL (postgresql+psycopg://...) for several replicas. A row is
`pending` until it is `scored` or `error`, so a restarted service knows exactly what is left. A
process scoring a pending row holds a lease on it (owner, expiry) that it renews while it scores;
a row whose owner died is claimed again once the lease lapses. The schema is made and upgraded by
the Alembic revisions in ragmeter.service.server.migrations.
`Store` is synchronous; async code uses `AsyncStore`, which runs every call in a worker thread
so that no database call ever blocks the event loop.
"""
from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, cast

from ragmeter.metrics import METRIC_NAMES, GateConfig, Sample, SampleResult
from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    create_engine,
    exists,
    delete,
    event,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import CursorResult, Result, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from ragmeter.service.server import migrations
from ragmeter.service.rows import RowStatus, ScoredRow


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    # Rows still being written by the upload; never listed, never resumed (an interrupted upload stays here).
    LOADING = "loading"


INSERT_CHUNK = 5_000
UNFINISHED = (JobStatus.QUEUED, JobStatus.RUNNING)
FINISHED = (JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED)


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
    done_at_start: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The API key's tenant that uploaded it; None in open mode. Other tenants never see the job.
    tenant: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)

    @property
    def gate_config(self) -> GateConfig:
        return GateConfig.model_validate(self.gate or {})


class Row(Base):
    __tablename__ = "rows"
    __table_args__ = (Index("ix_rows_job_status", "job_id", "status"),)

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    index: Mapped[int] = mapped_column(Integer, primary_key=True)
    sample: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), index=True, default=RowStatus.PENDING)
    result: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # How many times a worker picked the row up; more than one only after a crash mid-row.
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The process scoring the row now and until when; a lapsed lease means its owner is gone.
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    def to_sample(self) -> Sample:
        return Sample.model_validate(self.sample)

    def scored_row(self) -> ScoredRow:
        """The row as downloaded: its sample with its result, or its error, or pending."""
        result = SampleResult.model_validate(self.result) if self.result is not None else None
        return ScoredRow.of(self.index, self.to_sample(), result, RowStatus(self.status), self.error)


def url_problem(url: str) -> str | None:
    """Why RAGMETER_DB cannot be used (unknown database kind, missing driver, malformed URL), or None."""
    try:
        make_url(url).get_dialect().import_dbapi()  # the driver must be installed too
    except (ArgumentError, ImportError, ValueError) as exc:
        return f"cannot use RAGMETER_DB={url!r}: {str(exc).splitlines()[0]}"
    return None


def now() -> datetime:
    return datetime.now(UTC)


def changed(result: Result[Any]) -> int:
    """How many rows an UPDATE changed (a session types its results as Result; an UPDATE's has a rowcount)."""
    return cast(CursorResult[Any], result).rowcount


def _sqlite_wal(connection: Any, _: Any) -> None:
    # Write-ahead log: a commit is one fsync of the log (still durable: synchronous=FULL) rather than several, and
    # readers never block the writer, so production records' inserts do not queue behind the runner's writes.
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()


class Store:
    def __init__(self, url: str, clock: Callable[[], datetime] = now):
        """Connect and migrate the schema to this version's; `clock` says when leases lapse (tests pass their own)."""
        if url.startswith("sqlite"):
            self.engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
            event.listen(self.engine, "connect", _sqlite_wal)
            # SQLite has one writer at a time, and a writer that finds the file locked sleeps and polls (1, 2, 5,
            # 10, 15, 20, 25 ms...): under the runner's claims and finishes, a request storing records waited tens
            # of milliseconds past the lock's release. This process's writers queue here instead, woken at once.
            self._writing: AbstractContextManager = threading.RLock()
        else:
            self.engine = create_engine(url, pool_pre_ping=True)
            self._writing = nullcontext()  # row locks: writers go on concurrently
        migrations.upgrade(self.engine)
        self.session = sessionmaker(self.engine, expire_on_commit=False)
        self.clock = clock

    @contextmanager
    def begin(self) -> Iterator[Session]:
        """A write transaction (committed at the end, rolled back on an exception), in turn with this process's
        other writers on SQLite."""
        with self._writing, self.session.begin() as s:
            yield s

    def create_job(self, filename: str, samples: list[Sample], metrics: list[str], gate: GateConfig,
                   tenant: str | None = None) -> Job:
        """A queued job holding the samples as pending rows; written in chunks, so no write lock is held for long."""
        job = Job(id=str(uuid.uuid4()), status=JobStatus.LOADING, filename=filename, total=len(samples),
                  metrics=list(metrics), gate=gate.model_dump(mode="json"), created_at=now(), done_at_start=0,
                  tenant=tenant)
        with self.begin() as s:
            s.add(job)
        for start in range(0, len(samples), INSERT_CHUNK):
            with self.begin() as s:
                s.execute(insert(Row), [{"job_id": job.id, "index": i, "sample": sample.model_dump(mode="json"),
                                         "status": RowStatus.PENDING, "attempts": 0}
                                        for i, sample in enumerate(samples[start:start + INSERT_CHUNK], start)])
        with self.begin() as s:
            s.execute(update(Job).where(Job.id == job.id).values(status=JobStatus.QUEUED))
        job.status = JobStatus.QUEUED
        return job

    def job(self, job_id: str, tenant: str | None = None) -> Job | None:
        """The job; None when it does not exist or belongs to another tenant."""
        with self.session() as s:
            job = s.get(Job, job_id)
            return job if job is not None and (tenant is None or job.tenant == tenant) else None

    def jobs(self, limit: int = 100, tenant: str | None = None) -> list[Job]:
        """The most recent jobs (of one tenant, when given)."""
        query = select(Job).where(Job.status != JobStatus.LOADING).order_by(Job.created_at.desc()).limit(limit)
        with self.session() as s:
            return list(s.scalars(query.where(Job.tenant == tenant) if tenant is not None else query))

    def unfinished(self) -> list[Job]:
        with self.session() as s:
            return list(s.scalars(select(Job).where(Job.status.in_(UNFINISHED)).order_by(Job.created_at)))

    def set_status(self, job_id: str, status: JobStatus, message: str | None = None) -> None:
        values: dict = {"status": status}
        if status == JobStatus.RUNNING:
            values["started_at"] = now()
            values["done_at_start"] = sum(n for state, n in self.counts(job_id).items() if state != RowStatus.PENDING)
        if status in FINISHED:
            values["finished_at"] = now()
        if message is not None:
            values["message"] = message
        with self.begin() as s:
            s.execute(update(Job).where(Job.id == job_id).values(**values))

    def counts(self, job_id: str) -> dict[str, int]:
        with self.session() as s:
            pairs = s.execute(select(Row.status, func.count()).where(Row.job_id == job_id).group_by(Row.status))
            return {status: n for status, n in pairs}

    def claim(self, job_id: str, owner: str, limit: int, lease_s: float) -> list[Row]:
        """Lease up to `limit` pending rows of an unfinished job that no live owner holds, in input order."""
        moment = self.clock()
        free = or_(Row.lease_until.is_(None), Row.lease_until < moment)
        # SKIP LOCKED: rows another replica is claiming at this moment are passed over, not waited for. A CTE,
        # because PostgreSQL may run an IN (subquery) once per outer row, and a LIMIT then picks more rows.
        # SQLite has one writer at a time, so there the update alone is atomic (it has no FOR UPDATE).
        chosen = (select(Row.index).where(Row.job_id == job_id, Row.status == RowStatus.PENDING, free)
                  .order_by(Row.index).limit(limit).with_for_update(skip_locked=True).cte("chosen"))
        live = exists().where(Job.id == job_id, Job.status.in_(UNFINISHED))
        claim = (update(Row).where(Row.job_id == job_id, Row.index == chosen.c.index,
                                   Row.status == RowStatus.PENDING, free, live)
                 .values(lease_owner=owner, lease_until=moment + timedelta(seconds=lease_s),
                         attempts=Row.attempts + 1)
                 .returning(Row).execution_options(synchronize_session=False))
        with self.begin() as s:
            return sorted(s.scalars(claim), key=lambda r: r.index)

    def renew(self, owner: str, lease_s: float) -> int:
        """Extend every lease `owner` still holds on a pending row; how many it holds."""
        with self.begin() as s:
            return changed(s.execute(update(Row).where(Row.lease_owner == owner, Row.status == RowStatus.PENDING)
                                     .values(lease_until=self.clock() + timedelta(seconds=lease_s))))

    def release(self, owner: str, job_id: str | None = None, index: int | None = None) -> int:
        """Give up `owner`'s leases (all, or one row's), so that any process may claim those rows at once."""
        where = [Row.lease_owner == owner, Row.status == RowStatus.PENDING]
        if job_id is not None:
            where += [Row.job_id == job_id, Row.index == index]
        with self.begin() as s:
            return changed(s.execute(update(Row).where(*where).values(lease_owner=None, lease_until=None)))

    def finish_row(self, job_id: str, index: int, result: SampleResult | None, error: str | None = None,
                   owner: str | None = None) -> bool:
        """Write a row's result (or, when scoring raised, its error) once: a row no longer pending is left as it is,
        and so is one whose lease `owner` lost to another process. True when this call wrote it."""
        if result is not None:
            error = result.error_text()
        status = RowStatus.SCORED if error is None else RowStatus.ERROR
        where = [Row.job_id == job_id, Row.index == index, Row.status == RowStatus.PENDING]
        if owner is not None:
            where.append(Row.lease_owner == owner)
        with self.begin() as s:
            return changed(s.execute(update(Row).where(*where).values(
                status=status, error=error, lease_owner=None, lease_until=None,
                result=result.model_dump(mode="json") if result is not None else None))) > 0

    def complete(self, job_id: str) -> bool:
        """Mark an unfinished job done once none of its rows is pending; False while rows are left."""
        left = exists().where(Row.job_id == job_id, Row.status == RowStatus.PENDING)
        with self.begin() as s:
            return changed(s.execute(update(Job).where(Job.id == job_id, Job.status.in_(UNFINISHED), ~left)
                                     .values(status=JobStatus.DONE, finished_at=now()))) > 0

    def rows(self, job_id: str, start: int = 0, limit: int | None = None) -> list[Row]:
        """The job's rows in input order, from row index `start`, at most `limit` of them (a page)."""
        query = select(Row).where(Row.job_id == job_id, Row.index >= start).order_by(Row.index).limit(limit)
        with self.session() as s:
            return list(s.scalars(query))

    def outcomes(self, job_id: str, start: int, limit: int) -> list[tuple]:
        """A page of (index, status, gate passed, score per metric...), read from the results inside the database."""
        scores = [Row.result["scores"][name].as_float() for name in METRIC_NAMES]
        query = (select(Row.index, Row.status, Row.result["gate"]["passed"].as_boolean(), *scores)
                 .where(Row.job_id == job_id, Row.index >= start).order_by(Row.index).limit(limit))
        with self.session() as s:
            return [tuple(r) for r in s.execute(query)]

    def rows_at(self, job_id: str, indices: list[int]) -> list[Row]:
        with self.session() as s:
            return list(s.scalars(select(Row).where(Row.job_id == job_id, Row.index.in_(indices))))

    def pending_rows(self, tenant: str) -> int:
        """Rows of the tenant's queued and running jobs not yet scored."""
        query = (select(func.count()).select_from(Row).join(Job, Job.id == Row.job_id)
                 .where(Job.tenant == tenant, Job.status.in_(UNFINISHED), Row.status == RowStatus.PENDING))
        with self.session() as s:
            return s.scalar(query) or 0

    def scored_rows(self, job_id: str) -> list[ScoredRow]:
        return [row.scored_row() for row in self.rows(job_id)]

    def delete_job(self, job_id: str) -> int | None:
        """Delete a finished job with its rows and results; how many rows went, None when it was not finished."""
        finished = exists().where(Job.id == job_id, Job.status.in_(FINISHED))  # finished is final: no race
        with self.begin() as s:
            # Rows first: PostgreSQL's ON DELETE CASCADE would otherwise take them uncounted.
            rows = changed(s.execute(delete(Row).where(Row.job_id == job_id, finished)))
            gone = s.execute(delete(Job).where(Job.id == job_id, Job.status.in_(FINISHED)).returning(Job.id)).first()
            return rows if gone is not None else None

    def expired(self, before: datetime) -> list[Job]:
        """Finished jobs that finished (or, with no finish time, were created) before `before`."""
        ended = func.coalesce(Job.finished_at, Job.created_at)
        with self.session() as s:
            return list(s.scalars(select(Job).where(Job.status.in_(FINISHED), ended < before)))

    def close(self) -> None:
        self.engine.dispose()


class AsyncStore:
    """The store for async code: each call runs in a worker thread, never on the event loop."""

    def __init__(self, store: Store):
        self.sync = store

    @classmethod
    async def open(cls, url: str) -> AsyncStore:
        """Connect and create the tables, in a worker thread."""
        return cls(await asyncio.to_thread(Store, url))

    async def create_job(self, filename: str, samples: list[Sample], metrics: list[str], gate: GateConfig,
                         tenant: str | None = None) -> Job:
        return await asyncio.to_thread(self.sync.create_job, filename, samples, metrics, gate, tenant)

    async def job(self, job_id: str, tenant: str | None = None) -> Job | None:
        return await asyncio.to_thread(self.sync.job, job_id, tenant)

    async def jobs(self, limit: int = 100, tenant: str | None = None) -> list[Job]:
        return await asyncio.to_thread(self.sync.jobs, limit, tenant)

    async def unfinished(self) -> list[Job]:
        return await asyncio.to_thread(self.sync.unfinished)

    async def set_status(self, job_id: str, status: JobStatus, message: str | None = None) -> None:
        await asyncio.to_thread(self.sync.set_status, job_id, status, message)

    async def counts(self, job_id: str) -> dict[str, int]:
        return await asyncio.to_thread(self.sync.counts, job_id)

    async def finish_row(self, job_id: str, index: int, result: SampleResult | None, error: str | None = None,
                         owner: str | None = None) -> bool:
        return await asyncio.to_thread(self.sync.finish_row, job_id, index, result, error, owner)

    async def claim(self, job_id: str, owner: str, limit: int, lease_s: float) -> list[Row]:
        return await asyncio.to_thread(self.sync.claim, job_id, owner, limit, lease_s)

    async def renew(self, owner: str, lease_s: float) -> int:
        return await asyncio.to_thread(self.sync.renew, owner, lease_s)

    async def release(self, owner: str, job_id: str | None = None, index: int | None = None) -> int:
        return await asyncio.to_thread(self.sync.release, owner, job_id, index)

    async def complete(self, job_id: str) -> bool:
        return await asyncio.to_thread(self.sync.complete, job_id)

    async def scored_rows(self, job_id: str) -> list[ScoredRow]:
        return await asyncio.to_thread(self.sync.scored_rows, job_id)

    async def delete_job(self, job_id: str) -> int | None:
        return await asyncio.to_thread(self.sync.delete_job, job_id)

    async def pending_rows(self, tenant: str) -> int:
        return await asyncio.to_thread(self.sync.pending_rows, tenant)

    async def close(self) -> None:
        await asyncio.to_thread(self.sync.close)
