"""`ragmeter jobs delete ID... | expire`: delete finished batch jobs and their data, in RAGMETER_DB or on a service."""
from __future__ import annotations

import argparse

from ragmeter.service.cli.errors import err, error


def add_parser(commands) -> None:
    jobs = commands.add_parser("jobs", help="delete finished batch jobs with their rows and results")
    actions = jobs.add_subparsers(dest="action", required=True)
    delete = actions.add_parser("delete", help="delete finished jobs (done, failed, cancelled) and all their data; "
                                               "a queued or running job must be cancelled first")
    delete.add_argument("ids", nargs="+", metavar="ID")
    delete.add_argument("--url", help="ask a running service (DELETE /v1/batches/ID?purge=true, with "
                                      "RAGMETER_API_KEY: that key's tenant's jobs only) instead of RAGMETER_DB")
    expire = actions.add_parser("expire", help="delete every job finished more than --days days ago, now")
    expire.add_argument("--days", type=float, help="default RAGMETER_RETENTION_DAYS")


def run(args: argparse.Namespace) -> int:
    if args.action == "delete" and args.url:
        return _delete_remote(args.url, args.ids)
    from ragmeter.service.server.batches import retention
    from ragmeter.service.server.batches.store import Store, url_problem
    from ragmeter.service.settings import Settings

    settings = Settings()
    if problem := url_problem(settings.db):
        return error(problem)
    store = Store(settings.db)
    try:
        if args.action == "expire":
            days = args.days if args.days is not None else settings.retention_days
            if not days or days < 0:
                return error("give --days N (N > 0) or set RAGMETER_RETENTION_DAYS")
            deleted = retention.delete_expired(store, days)
            err.print(f"deleted {len(deleted)} jobs finished more than {days:g} days ago "
                      f"({sum(d.rows or 0 for d in deleted)} rows)")
            return 0
        failed = 0
        for job_id in args.ids:
            job = store.job(job_id)
            if job is None:
                error(f"no batch {job_id}")
                failed += 1
                continue
            deletion = retention.delete_job(store, job, "cli")
            if deletion.rows is None:
                error(f"batch {job_id} is {job.status}; cancel it first")
                failed += 1
            else:
                err.print(f"deleted batch {job_id} ({deletion.rows} rows)")
        return 2 if failed else 0
    finally:
        store.close()


def _delete_remote(url: str, ids: list[str]) -> int:
    import httpx

    from ragmeter.service.client import RagmeterClient, RagmeterError

    failed = 0
    with RagmeterClient(url) as client:
        for job_id in ids:
            try:
                deleted = client.delete(job_id)
            except (RagmeterError, httpx.HTTPError) as exc:
                error(exc)
                failed += 1
                continue
            err.print(f"deleted batch {job_id} ({deleted['rows']} rows)")
    return 2 if failed else 0
