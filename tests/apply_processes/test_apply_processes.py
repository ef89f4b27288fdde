"""Real ``pipeline apply --config FILE`` processes on a burst of commands for the five platforms,
SIGKILLed while it runs and restarted: every command still ends in exactly one result (results
grouped by command id), no e-Çarşı order gets a second shipment (its shipping write is not
idempotent: the sandbox's world counts every shipping record), every world shows the burst's
intended effect, and no documented limit is broken. The figures are printed (``pytest -s``).
"""

from __future__ import annotations

import asyncio
import collections
import time
from typing import Any

import pytest

from pipeline.broker import EmbeddedBroker
from pipeline.sandbox import ServedSandbox, serve

pytestmark = pytest.mark.integration

#: Kill the worker right after the n-th e-Çarşı shipment landed, while its answer is still held
#: back by the sandbox: the command has no result and its offset is not committed.
KILL_AT_SHIPMENTS = (2, 6)


async def wait_for_shipments(
    served: list[ServedSandbox], count: int, worker: Any, within: float = 60.0
) -> None:
    world = next(s.sandbox.world for s in served if s.sandbox.platform == "ecarsi")
    try:
        async with asyncio.timeout(within):
            while sum(w.kind == "ship" and w.outcome == "applied" for w in world.writes) < count:
                if not worker.running:
                    pytest.fail(f"{worker.name} exited:\n{worker.tail()}")
                await asyncio.sleep(0.01)
    except TimeoutError:
        pytest.fail(f"fewer than {count} e-Çarşı shipments within {within}s:\n{worker.tail()}")


@pytest.mark.timeout(150)
async def test_a_worker_killed_during_a_burst_answers_every_command_once_and_ships_once(
    kit: Any, broker: EmbeddedBroker
) -> None:
    async with serve(kit.build_sandboxes(seed=3)) as served:
        kit.configure(served, broker.bootstrap)
        burst = kit.plan_burst(served)
        await kit.produce(broker.bootstrap, burst.commands)
        started = time.monotonic()
        worker = await kit.worker("worker-0")
        kills = []
        for n, shipments in enumerate(KILL_AT_SHIPMENTS):
            await wait_for_shipments(served, shipments, worker)
            await worker.kill()
            kills.append(round(time.monotonic() - started, 1))
            worker = await kit.worker(f"worker-{n + 1}")

        check = kit.check_results(burst, [])
        try:
            async with asyncio.timeout(90):
                while True:
                    check = kit.check_results(burst, await kit.read_results(broker.bootstrap))
                    if not check.missing:
                        break
                    if not worker.running:
                        pytest.fail(f"{worker.name} exited:\n{worker.tail()}")
                    await asyncio.sleep(1.0)
        except TimeoutError:
            pytest.fail(f"{len(check.missing)} commands without a result:\n{worker.tail()}")
        took = time.monotonic() - started
        assert await worker.stop() == 0, worker.tail()

        check = kit.check_results(burst, await kit.read_results(broker.bootstrap))
        shipments = kit.shipments_per_order(served, "ecarsi")
        ecarsi = {c.order_id for c in burst.of("ecarsi")}
        results = await kit.read_results(broker.bootstrap)
        ecarsi_outcomes = collections.Counter(
            r.outcome.value for r in results if r.platform == "ecarsi"
        )
        limits = kit.limit_findings(served)
        problems = kit.truth_problems(burst, served)
        print(
            f"\n[apply: SIGKILL during a burst] {len(burst.commands)} commands, killed at "
            f"{kills}s, all answered after {took:.1f}s; results {check.results}, repeated "
            f"{len(check.repeated)}; outcomes {check.outcomes}; e-Çarşı {dict(ecarsi_outcomes)}; "
            f"requests { {s.sandbox.platform: len(s.sandbox.log.entries) for s in served} }"
        )
        assert check.ok, check
        assert {k: v for k, v in shipments.items() if v != 1} == {}, "a second shipment"
        assert set(shipments) == ecarsi
        # Each kill left a shipment without its result: the next owner found it done.
        assert ecarsi_outcomes["already_applied"] >= len(KILL_AT_SHIPMENTS), ecarsi_outcomes
        assert not problems, "\n".join(problems[:20])
        assert not any(limits.values()), limits
