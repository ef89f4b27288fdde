"""``pipeline replay`` and ``pipeline tail``: read any topic for debugging, never as a group.

* ``replay TOPIC`` reads what the topic holds now (to each partition's end at start) and exits;
  ``tail TOPIC`` starts at the end (or at ``--since`` / ``--from-offset``) and follows until
  Ctrl-C (or ``--limit`` matches). Both read with a group-less consumer that never commits
  (:func:`pipeline.replay.replay`); exit status 1 says a partition was given up on before its
  end.
* Filters (``--key``, ``--type``, ``--platform``, ``--account``, ``--order``, ``--since``,
  ``--until``, ``--from-offset``) and formats (``--format table|json|raw``, ``--meta``):
  :mod:`pipeline.replay_view`. json and raw print personal data unmasked.
* ``--to TOPIC`` re-publishes each matching record unchanged; a dead letter's *original* command
  goes out, not the letter (``replay commands-dlq.v1 --to commands.v1`` requeues).
  ``--create-to`` creates a missing ``--to`` topic with the source topic's partition count.

:func:`kafka_from_args` (``--bootstrap`` over ``--config``) is shared by the operator commands;
:func:`main` runs ``replay``/``tail`` alone.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from pipeline.config import Config, KafkaConfig
from pipeline.errors import ConfigError, PipelineError
from pipeline.replay import ReplayStats, replay
from pipeline.replay_view import Filters, Printer, parse_from_offset, parse_time

__all__ = [
    "kafka_from_args",
    "main",
    "register",
]


def kafka_from_args(args: argparse.Namespace) -> KafkaConfig:
    """``--bootstrap`` over ``--config``'s ``[kafka]`` (shared by the operator commands)."""
    config = Config()
    if args.config:
        from pipeline import platforms
        from pipeline.config import load_config

        config = load_config(args.config, platforms=platforms.credential_keys())
    target = args.bootstrap or config.kafka.bootstrap
    if not target:
        raise ConfigError("give --bootstrap or a config with kafka.bootstrap", path="kafka")
    return msgspec.structs.replace(config.kafka, bootstrap=target)


def _arg(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return convert


def _add_options(cmd: argparse.ArgumentParser, *, follow: bool) -> None:
    cmd.add_argument("topic", help="the topic to read (never joined as a group, never committed)")
    cmd.add_argument("--config", default=None, help="TOML configuration (kafka settings)")
    cmd.add_argument("--bootstrap", default=None, help="host:port (overrides the config)")
    cmd.add_argument(
        "--since",
        type=_arg(parse_time),
        help="from this time: 2h / 30m / 7d ago, or RFC 3339 with an offset (record timestamp)",
    )
    if not follow:
        cmd.add_argument("--until", type=_arg(parse_time), help="before this time (same forms)")
    cmd.add_argument(
        "--from-offset",
        dest="from_offset",
        action="append",
        type=_arg(parse_from_offset),
        default=[],
        metavar="[PARTITION:]OFFSET",
        help="start there (negative: that many before the end); with PARTITION only the named "
        "partitions are read; repeatable",
    )
    cmd.add_argument("--key", default=None, help="exact record key, e.g. pazarama:main:42")
    cmd.add_argument(
        "--type",
        dest="types",
        metavar="PATTERN",
        action="append",
        default=[],
        help="event/command type (ce_type header or envelope), fnmatch pattern: 'order.*'",
    )
    cmd.add_argument("--platform", default=None)
    cmd.add_argument("--account", default=None)
    cmd.add_argument("--order", default=None, help="order id (envelope subject / order_id)")
    cmd.add_argument("--limit", type=int, default=None, help="stop after this many matches")
    cmd.add_argument(
        "--format",
        choices=["table", "json", "raw"],
        default="table",
        help="table: one line per record, personal ids masked; json: the value document as "
        "stored, one per line; raw: the value bytes as stored. json and raw ARE the data and "
        "print personal data unmasked",
    )
    cmd.add_argument(
        "--meta", action="store_true", help="json: wrap each document with partition, offset..."
    )
    cmd.add_argument(
        "--to",
        default=None,
        metavar="TOPIC",
        help="re-publish matches unchanged (key, value, headers); a dead letter's ORIGINAL "
        "command is re-published, not the letter",
    )
    cmd.add_argument(
        "--create-to",
        action="store_true",
        help="create the --to topic if missing (partitions as the source topic)",
    )
    cmd.add_argument(
        "--replication-factor",
        type=int,
        default=None,
        help="for --create-to (default 3, as the topic specs; 1 on a single broker)",
    )


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``replay`` and ``tail`` to the ``pipeline`` command line."""
    rep = sub.add_parser(
        "replay", help="print (or re-publish) what a topic holds, filtered; no consumer group"
    )
    _add_options(rep, follow=False)
    rep.set_defaults(func=_cmd_replay, follow=False)
    tail = sub.add_parser(
        "tail", help="follow a topic live from its end (or --since), filtered; no consumer group"
    )
    _add_options(tail, follow=True)
    tail.set_defaults(func=_cmd_replay, follow=True, until=None)


def _cmd_replay(args: argparse.Namespace) -> int:
    kafka = kafka_from_args(args)
    printer = Printer(args.format, sys.stdout.buffer, meta=args.meta, flush=args.follow)
    filters = Filters(
        key=args.key,
        types=tuple(args.types),
        platform=args.platform,
        account=args.account,
        order=args.order,
        since=args.since,
        until=args.until,
    )

    def ready(stats: ReplayStats) -> None:
        said = [
            f"{'following' if args.follow else 'reading'} {args.topic}",
            f"partitions {','.join(map(str, stats.partitions))}",
        ]
        if args.follow and not (args.since or args.from_offset):
            said.append("from the end")
        if stats.time_index is not None:
            said.append("seeking by time" if stats.time_index else "no time index: scanning")
        if args.follow:
            said.append("Ctrl-C stops")
        print("; ".join(said), file=sys.stderr, flush=True)

    async def run() -> ReplayStats:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            return await replay(
                kafka,
                args.topic,
                printer,
                filters=filters,
                from_offsets=dict(args.from_offset),
                limit=args.limit,
                to=args.to,
                create_to=args.create_to,
                replication_factor=args.replication_factor,
                follow=args.follow,
                stop=stop,
                on_ready=ready,
            )
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)

    try:
        stats = asyncio.run(run())
        sys.stdout.flush()
    except BrokenPipeError:  # `pipeline replay ... | head`: stop quietly, as cat does
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the interpreter's final flush must not fail
        return 0
    sent = f", {stats.republished} re-published to {args.to}" if args.to else ""
    skipped = f", {stats.skipped} not re-published (see log)" if stats.skipped else ""
    cut = f"; partitions {stats.incomplete} stopped early" if stats.incomplete else ""
    print(
        f"{stats.matched} of {stats.scanned} records matched{sent}{skipped}{cut}", file=sys.stderr
    )
    return 1 if stats.incomplete else 0


def main(argv: Sequence[str] | None = None) -> int:
    """``replay``/``tail`` alone (``python -c 'from pipeline.replay import main; ...'``)."""
    parser = argparse.ArgumentParser(prog="pipeline")
    register(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    try:
        result: int = args.func(args)
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return result
