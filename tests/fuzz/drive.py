"""Runs a scenario's real client against the fuzz server and checks what every adapter promises
whatever the body: only the project's own errors escape, errors stay short, nothing secret or
personal shows in an error, a ``Malformed`` or a log line."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pipeline.adapter import Malformed
from pipeline.errors import PipelineError
from pipeline.logs import JsonFormatter

from .mutate import PERSONAL
from .scenarios import Record, Scenario
from .served import Answer, LoopRig

#: An error text longer than this means a value was echoed untruncated (a 60 kB string...).
MAX_ERROR = 3000


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.formatter_ = JsonFormatter()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.formatter_.format(record))


@contextlib.contextmanager
def log_lines() -> Any:
    handler = _Lines()
    root = logging.getLogger("pipeline")
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler.lines
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@dataclass
class Outcome:
    items: list[Record]
    error: BaseException | None
    logs: list[str] = field(default_factory=list)

    @property
    def malformed(self) -> list[Malformed]:
        return [i for i in self.items if isinstance(i, Malformed)]

    @property
    def mapped(self) -> list[Any]:
        return [i for i in self.items if not isinstance(i, Malformed)]


def encode(doc: Any) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode("utf-8", "surrogatepass")


def fetch(
    rig: LoopRig,
    scenario: Scenario,
    listing: Answer,
    details: Mapping[str, Answer] | None = None,
) -> Outcome:
    """One fetch of the scenario's stream against these answers."""

    def respond(method: str, path: str) -> Answer:
        if scenario.token is not None and path.endswith(scenario.token[0]):
            return Answer(200, encode(scenario.token[1]))
        if path == scenario.base_suffix + scenario.list_path:
            return listing
        if scenario.detail_id is not None:
            wanted = scenario.detail_id(path)
            if wanted is not None and details is not None and wanted in details:
                return details[wanted]
        return Answer(404, b"")

    rig.server.responder = respond

    async def run() -> Outcome:
        assert rig.http is not None
        client = scenario.client(rig.base, rig.http)
        items: list[Record] = []
        try:
            async for item in scenario.fetch(client):
                items.append(item)
        except Exception as exc:
            return Outcome(items, exc)
        finally:
            await client.aclose()
        return Outcome(items, None)

    with log_lines() as lines:
        outcome = rig.run(run())
    outcome.logs = list(lines)
    return outcome


def check_safe(outcome: Outcome, scenario: Scenario) -> None:
    """The promises every outcome keeps."""
    if outcome.error is not None and not isinstance(outcome.error, PipelineError):
        raise AssertionError(
            f"{type(outcome.error).__name__} escaped the client: {outcome.error!r}"[:2000]
        ) from outcome.error
    texts: list[tuple[str, str]] = [(f"log line {n}", line) for n, line in enumerate(outcome.logs)]
    for bad in outcome.malformed:
        assert bad.error, bad
        assert len(bad.error) <= MAX_ERROR, f"Malformed.error of {len(bad.error)} chars"
        texts.append((f"Malformed {bad.record_id!r:.40}", bad.error))
    if outcome.error is not None:
        message = str(outcome.error)
        assert len(message) <= MAX_ERROR, f"error text of {len(message)} chars"
        texts.append((type(outcome.error).__name__, message))
        for attr in ("platform_message", "excerpt"):
            value = getattr(outcome.error, attr, None)
            if isinstance(value, str):
                assert len(value) <= MAX_ERROR, f"{attr} of {len(value)} chars"
                texts.append((attr, value))
    for where, text in texts:
        for secret in (*scenario.secrets, *PERSONAL):
            assert secret not in text, f"{secret!r} in {where}: {text[:300]!r}"
