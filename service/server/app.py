"""The FastAPI application: `create_app()` wires settings, the judge and the routers."""
from __future__ import annotations

import asyncio
import gc
import logging
import sys
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from ragmeter.metrics.judges import Judge
from starlette.middleware.trustedhost import TrustedHostMiddleware

from ragmeter.service.server.api import (alerts, batches, catalog, comparisons, errors, evaluate, guard,
                                           health, monitor, records, rows, traces)
from ragmeter.service.server.api.headers import BodyLimit, RequestHeaders
from ragmeter.service.server.batches import abandoned, retention
from ragmeter.service.server.batches.digest import DigestCache
from ragmeter.service.server.batches.download import Downloads
from ragmeter.service.server.batches.executor import Executor, start_scoring
from ragmeter.service.server.batches.ingest import Ingestor
from ragmeter.service.server.batches.runner import BatchRunner
from ragmeter.service.server.batches.store import AsyncStore
from ragmeter.service import logs
from ragmeter.service.judge_setup import NO_JUDGE, build_judge
from ragmeter.service.server.quota import Quota
from ragmeter.service.server.slow_clients import BodyTimeout
from ragmeter.service.settings import Settings
from ragmeter.service.server.telemetry import Telemetry
from ragmeter.service.server.tenancy import KeyRing, get_tenant
from ragmeter.service.server.traffic import rollups
from ragmeter.service.server.traffic.prometheus import RecordCollector
from ragmeter.service.server.traffic import alert_tasks
from ragmeter.service.server.traffic import assembly
from ragmeter.service.server.traffic.assembly import TraceAssembler
from ragmeter.service.server.traffic.ingest import Backlog
from ragmeter.service.server.traffic.runner import RecordQueue
from ragmeter.service.server.traffic.store import AsyncRecordStore, RecordStore

log = logging.getLogger("ragmeter.app")
WEB = Path(__file__).resolve().parent / "web"
WEB_PAGE = WEB / "index.html"

DESCRIPTION = """Scores RAG answers with the four Ragas metrics (faithfulness, answer relevancy,
context precision, context recall), says whether to block an answer (the hallucination gate),
and shows the evidence: which claims of the answer the contexts support and which they do not."""


def judge_line(judge: Judge | None) -> str:
    """Which judge scores, for the start-up log: its name and model, or why there is none."""
    if judge is None:
        return f"judge: none, every scoring request answers 503 ({NO_JUDGE})"
    info = judge.info
    model = f", model {info.model}" if info.model else ", no model named"
    embeddings = f", embeddings {info.embedding_model}" if info.embedding_model else ""
    return f"judge: {info.name}{model}{embeddings}"


def create_app(settings: Settings | None = None, judge: Judge | None = None) -> FastAPI:
    """The app; it scores with the given judge, or builds one from the settings, and closes it at shutdown."""
    settings = settings or Settings()
    logs.redact_access_log()  # also when served by another ASGI server's own logging setup

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # Worker threads parse small uploads, encode download pages and compute summaries; the event loop
        # waits for the GIL at each await, so it gets it back after 0.5 ms rather than the default 5 ms.
        sys.setswitchinterval(min(sys.getswitchinterval(), 0.0005))
        app.state.judge = judge if judge is not None else build_judge(settings)
        log.info("%s", judge_line(app.state.judge))
        app.state.store = await AsyncStore.open(settings.db)
        app.state.keys = KeyRing(app.state.store.sync, settings.api_keys)
        keyed = await asyncio.to_thread(app.state.keys.configured)
        log.info("API keys %s", "required on /v1 and / (tenants isolated)" if keyed else
                 "not configured: open mode, every caller sees every batch")
        executor = app.state.executor = Executor(settings)
        log.info("batch executor: %s", executor.describe())
        # Ray starts in the background: the server answers meanwhile and jobs wait, queued, until it is up.
        scoring = executor.scoring
        # Without background scoring the runner stays held: jobs stay queued for the replicas that score.
        app.state.runner = BatchRunner(app.state.store, app.state.judge, executor.rows,
                                       settings.hallucination_threshold, app.state.telemetry, score=executor.score,
                                       lease_s=settings.lease_s, poll_s=settings.poll_s,
                                       held=not scoring or executor.state != "ready",
                                       citation_pattern=settings.citation_pattern)
        starting = asyncio.create_task(start_scoring(executor, app.state.runner), name="executor-start") \
            if scoring else None
        if scoring:
            await app.state.runner.resume_unfinished()
        else:
            log.info("background scoring off (RAGMETER_BACKGROUND_SCORING=false): batch rows and records are stored "
                     "here and scored by the replicas that have it on")
        await abandoned.sweep_once(app.state.store.sync, settings.loading_timeout_s)
        sweeper = asyncio.create_task(abandoned.sweep(app.state.store.sync, settings.loading_timeout_s))
        app.state.traces.open(app.state.store.sync)  # OTLP spans waiting for their root: in the shared database
        await assembly.sweep_once(app.state.traces)
        span_expiry = asyncio.create_task(assembly.sweep(app.state.traces))
        expiry = asyncio.create_task(retention.sweep(app.state.store.sync, settings.retention_days)) \
            if settings.retention_days else None
        if settings.retention_days:
            log.info("retention: finished batch jobs are deleted %g days after they finished", settings.retention_days)
            await retention.sweep_once(app.state.store.sync, settings.retention_days)
        collector = RecordCollector(app.state.store.sync, settings.monitor_window_s, settings.monitor_max_apps)
        app.state.telemetry.registry.register(collector)
        record_expiry = asyncio.create_task(rollups.sweep(app.state.store.sync, settings.record_retention_days)) \
            if settings.record_retention_days else None
        if settings.record_retention_days:
            log.info("retention: production records are rolled up per app and hour, then deleted, %g days after "
                     "their timestamp", settings.record_retention_days)
            await rollups.sweep_once(app.state.store.sync, settings.record_retention_days)
        # Production records: scored by the same runner, in the same slots, under the same leases as batch rows.
        app.state.record_store = AsyncRecordStore(RecordStore(app.state.store.sync))
        app.state.record_queue = RecordQueue(app.state.record_store, app.state.record_listeners, app.state.telemetry)
        if scoring:
            app.state.runner.watch()  # other replicas' uploads, and rows whose replica died
            app.state.runner.serve(app.state.record_queue)
        # What start-up loaded (the judge's models and word lists, the libraries) lives as long as the process:
        # kept out of the garbage collector's full passes, which otherwise walk it all and stall requests.
        gc.collect()
        gc.freeze()
        alerting = alert_tasks.start(app, settings)
        try:
            yield
        finally:
            await alerting.stop()
            sweeper.cancel()
            span_expiry.cancel()
            if expiry is not None:
                expiry.cancel()
            if record_expiry is not None:
                record_expiry.cancel()
            app.state.telemetry.registry.unregister(collector)
            if starting is not None:
                starting.cancel()
            await app.state.runner.stop()
            executor.close()
            app.state.ingestor.close()
            await app.state.store.close()
            for worker in getattr(app.state, "guard_workers", None) or []:
                await worker.aclose()
            if app.state.judge is not None:
                await app.state.judge.aclose()

    app = FastAPI(title="ragmeter", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    app.state.settings = settings
    app.state.judge = judge
    app.state.telemetry = Telemetry()
    app.state.quota = Quota(settings.rate_limit_rps, settings.samples_per_day)
    app.state.ingestor = Ingestor(settings)
    app.state.downloads = Downloads(settings)
    app.state.digests = DigestCache()
    app.state.record_backlog = Backlog()
    # Called with (tenant, app) after each production record is scored: alerts (and others) watch them.
    app.state.record_listeners = []
    app.state.traces = TraceAssembler(app.state.telemetry.registry, settings.otlp_staging_s,
                                      settings.otlp_staging_spans)
    errors.install(app)
    app.add_middleware(BodyLimit, max_upload_mb=settings.max_upload_mb)
    app.add_middleware(BodyTimeout, idle_s=settings.body_timeout_s)
    app.add_middleware(RequestHeaders)
    if settings.allowed_hosts != ["*"]:  # a foreign Host header is refused (DNS rebinding)
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=settings.allowed_hosts)
    if settings.cors_origins:  # off unless origins are listed
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["*"])
    app.include_router(health.router)
    app.include_router(catalog.router)
    app.include_router(evaluate.router)
    app.include_router(batches.router)
    app.include_router(rows.router)
    app.include_router(comparisons.router)
    app.include_router(monitor.router)
    app.include_router(alerts.router)
    app.include_router(traces.router)
    app.include_router(guard.router)
    app.include_router(records.router)

    @app.get("/", include_in_schema=False, dependencies=[Depends(get_tenant)])
    async def web_page() -> FileResponse:
        """A small page for people: score one answer, upload a file, list batches."""
        return FileResponse(WEB_PAGE)

    # The page's script, styles and icon hold no data: served without a key, as browsers fetch icons without one.
    app.mount("/static", StaticFiles(directory=WEB / "static"), name="static")

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> FileResponse:
        """Browsers ask for /favicon.ico on pages that name no icon (the API docs, JSON answers)."""
        return FileResponse(WEB / "static" / "favicon.svg", media_type="image/svg+xml")

    return app
