"""``pipeline broker``: run the embedded broker alone until cancelled, printing its address.

The broker itself (Tansu, memory-only, on a loopback port) and its known gaps are described
in :mod:`pipeline.broker`.
"""

from __future__ import annotations

import sys
from typing import TextIO

from pipeline.broker import EmbeddedBroker
from pipeline.errors import BrokerError

__all__ = ["serve_forever"]


async def serve_forever(port: int | None = None, *, out: TextIO | None = None) -> None:
    """Run an embedded broker until cancelled (``pipeline broker``); print its address.

    Raises :class:`BrokerError` if the broker exits on its own.
    """
    stream = out if out is not None else sys.stdout
    async with EmbeddedBroker(port=port) as broker:
        print(
            f"embedded Kafka-compatible broker (Tansu, memory-only) ready: "
            f"bootstrap={broker.bootstrap} pid={broker.pid}",
            file=stream,
            flush=True,
        )
        status = await broker.wait()
        raise BrokerError(
            f"the embedded broker exited with status {status}. Output:\n{broker.output_tail()}"
        )
