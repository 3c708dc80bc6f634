"""JSON logs for `ragmeter serve`: one object per line with time, level, logger, message and request id.

Sample text and keys are never logged: a key given in a query string (`?api_key=`, which the web page and
report take) is replaced by REDACTED in every line, the access log's included; an error's trace is, under "exc".
"""
from __future__ import annotations

import json
import logging
import re
from contextvars import ContextVar

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

REDACTED = "[redacted]"
# Query parameters whose value is a secret, as any client might name them; matched case-insensitively.
SECRET_PARAMS = ("api_key", "api-key", "apikey", "key", "token", "access_token", "password", "secret")
_NAMES = "|".join(re.escape(p) for p in SECRET_PARAMS)
_SECRET_QUERY = re.compile(rf"([?&;](?:{_NAMES})=)[^&;#\s\"']*", re.I)
_RAGMETER_KEY = re.compile(r"\brk_[A-Za-z0-9_-]{16,}")  # a key of ours anywhere else: a pasted URL, a trace


def redact(text: str) -> str:
    """The text with secret query-string values and ragmeter keys replaced by REDACTED."""
    return _RAGMETER_KEY.sub(REDACTED, _SECRET_QUERY.sub(r"\g<1>" + REDACTED, text))


def _redacted(value: object) -> object:
    return redact(value) if isinstance(value, str) else value


class RedactSecrets(logging.Filter):
    """Redacts a record's message and string arguments in place, keeping their shape for any formatter
    (uvicorn's access formatter unpacks its five arguments)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = _redacted(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_redacted(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: _redacted(v) for k, v in record.args.items()}
        return True


def redact_access_log() -> None:
    """Put RedactSecrets on uvicorn's access and error loggers, however the app is served; idempotent."""
    for name in ("uvicorn.access", "uvicorn.error"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(RedactSecrets())


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"), "level": record.levelname,
                 "logger": record.name, "message": redact(record.getMessage())}
        if (rid := request_id.get()) is not None:
            entry["request_id"] = rid
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def log_config(level: str = "INFO") -> dict:
    """A logging.config dict for uvicorn and ragmeter's own loggers, all through JsonFormatter (which redacts)."""
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"default": handler},
        "loggers": {name: {"handlers": ["default"], "level": level, "propagate": False}
                    for name in ("ragmeter", "uvicorn", "uvicorn.error", "uvicorn.access")},
    }
