"""Log output: one JSON object per line (or text for humans), masked at the formatter.

Every string that leaves through these formatters — the rendered message, each ``extra`` field
(also inside lists and dicts), exception and stack text — goes through
:func:`pipeline.masking.mask_text`, so a call site that logs a TC kimlik no, a phone number, an
e-mail address or a registered secret cannot leak it (DESIGN invariant 8). Numbers are checked
too: an 11-digit ``int`` extra is a TC kimlik no as much as the string is.

JSON lines carry ``time`` (RFC 3339, UTC, milliseconds), ``level``, ``logger``, ``message`` and
the extras (``platform``, ``account``, ``endpoint``, ``order_id``, ``status``...), then ``exc``
for a traceback.

During a broker outage aiokafka logs the same connection error several times a second;
:class:`RepeatFilter` lets one identical message through per interval and reports how many it
held back (``suppressed=N`` on the next one).
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
import time
from collections.abc import Callable
from typing import Final, Literal, TextIO

import msgspec

from pipeline.masking import mask_text

LogFormat = Literal["json", "text"]

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD: Final = frozenset(
    logging.LogRecord("", logging.INFO, "", 0, "", None, None).__dict__
) | {"message", "asctime", "taskName"}
_CORE: Final = ("time", "level", "logger", "message", "exc", "stack")


def _timestamp(record: logging.LogRecord) -> str:
    when = dt.datetime.fromtimestamp(record.created, dt.UTC)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def masked(value: object) -> object:
    """A JSON-ready copy of ``value`` with every string (and number-as-text) masked."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, int | float):
        text = str(value)
        hidden = mask_text(text)
        return value if hidden == text else hidden
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {mask_text(str(k)): masked(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [masked(v) for v in value]
    return mask_text(str(value))


def extras(record: logging.LogRecord) -> dict[str, object]:
    """The fields a call site added with ``extra=``, in the order they were given."""
    return {
        k: v for k, v in record.__dict__.items() if k not in _STANDARD and not k.startswith("_")
    }


class JsonFormatter(logging.Formatter):
    """One JSON object per line; every string field masked."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "time": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": mask_text(record.getMessage()),
        }
        for key, value in extras(record).items():
            # An extra named like a core field must not overwrite it.
            out[f"{key}_" if key in _CORE else key] = masked(value)
        if record.exc_info:
            out["exc"] = mask_text(self.formatException(record.exc_info))
        elif record.exc_text:
            out["exc"] = mask_text(record.exc_text)
        if record.stack_info:
            out["stack"] = mask_text(self.formatStack(record.stack_info))
        return msgspec.json.encode(out).decode()


class TextFormatter(logging.Formatter):
    """``2026-04-20T09:00:00.123Z INFO pipeline.poller message key=value ...``, masked."""

    def format(self, record: logging.LogRecord) -> str:
        parts = [record.getMessage()]
        for key, value in extras(record).items():
            text = value if isinstance(value, str) else repr(value)
            parts.append(f"{key}={msgspec.json.encode(text).decode() if ' ' in text else text}")
        if record.exc_info:
            parts.append("\n" + self.formatException(record.exc_info))
        if record.stack_info:
            parts.append("\n" + self.formatStack(record.stack_info))
        body = mask_text(" ".join(parts))
        return f"{_timestamp(record)} {record.levelname:<7} {record.name} {body}"


class RepeatFilter(logging.Filter):
    """Let one of a run of identical messages through per ``interval`` seconds.

    Applies to loggers under the given ``prefixes`` (aiokafka by default); identical means the
    same logger, level and rendered message. The first message after a quiet interval carries
    ``suppressed`` — how many were held back since the last one shown.
    """

    def __init__(
        self,
        prefixes: tuple[str, ...] = ("aiokafka",),
        *,
        interval: float = 60.0,
        max_keys: int = 1000,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.prefixes = prefixes
        self.interval = interval
        self._max_keys = max_keys
        self._monotonic = monotonic
        self._seen: dict[tuple[str, int, str], tuple[float, int]] = {}  # key: (shown at, held)

    def _applies(self, name: str) -> bool:
        return any(name == p or name.startswith(p + ".") for p in self.prefixes)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._applies(record.name):
            return True
        key = (record.name, record.levelno, record.getMessage())
        now = self._monotonic()
        shown = self._seen.get(key)
        if shown is not None and now - shown[0] < self.interval:
            self._seen[key] = (shown[0], shown[1] + 1)
            return False
        if shown is not None and shown[1]:
            record.suppressed = shown[1]
        self._seen.pop(key, None)
        if len(self._seen) >= self._max_keys:
            del self._seen[next(iter(self._seen))]  # the oldest shown
        self._seen[key] = (now, 0)
        return True


class _PipelineHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handler :func:`configure_logging` installed, so a second call replaces it."""


def configure_logging(
    level: str | int = "INFO",
    fmt: LogFormat = "json",
    *,
    stream: TextIO | None = None,
    repeat_interval: float = 60.0,
) -> logging.Handler:
    """Send the root logger's records to ``stream`` (stderr) as JSON lines or text.

    Replaces a handler installed by an earlier call (not others, e.g. pytest's). Identical
    aiokafka messages are let through once per ``repeat_interval`` seconds.
    """
    if isinstance(level, str):
        number = logging.getLevelName(level.upper())
        if not isinstance(number, int):
            raise ValueError(f"unknown log level {level!r} (DEBUG, INFO, WARNING, ERROR)")  # noqa: TRY004 - a bad value, not a bad type
        level = number
    if fmt not in ("json", "text"):
        raise ValueError(f"unknown log format {fmt!r} (json or text)")
    handler = _PipelineHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(RepeatFilter(interval=repeat_interval))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _PipelineHandler)]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level)
    return handler
