"""Process-wide logging set-up from settings: text for people, JSON lines for machines."""

from __future__ import annotations

import json
import logging
import sys

from services.config import Settings


def configure_logging(settings: Settings) -> None:
    """Send the root logger to stderr at `settings.log_level` in `settings.log_format`."""
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_format == "json":
        handler.setFormatter(_JsonFormatter(settings.service))
    else:
        handler.setFormatter(
            logging.Formatter(f"%(asctime)s %(levelname)s {settings.service} %(name)s: %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)


class _JsonFormatter(logging.Formatter):
    """One JSON object per line with the fields log pipelines index."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "service": self._service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("trace_id", "span_id"):
            value = getattr(record, key, None)
            if value:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)
