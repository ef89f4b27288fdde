"""The invariant checker: what reached Kafka, compared with what the platforms really hold.

Chaos tests, benchmarks and ``pipeline up`` runs end with one question: did the pipeline keep
its promises (DESIGN "Invariants")? This module answers it from the outside, the way another
team would see the result:

1. :func:`read_topics` reads ``orders.v1`` and ``refunds.v1`` from the beginning to their end
   with a plain consumer (``assign()``, no group, no commits, nothing disturbed);
2. :func:`read_observations` reads how far every account and stream was polled from the
   checkpoints on ``_pipeline.checkpoints`` (the cursor is the pipeline's own claim: "everything
   created before this was published", invariant 1);
3. :func:`ground_truth` takes the sandboxes' worlds (every order, refund and cancellation, with
   the time of every status change) and, through each platform's own adapter, the raw status the
   platform shows *now* -- "as the adapter renders it", so this module never needs to know how a
   platform spells a status;
4. :func:`check` compares them and returns a :class:`Report`; :func:`check_pipeline` does all four.

Violations (``Report.counts`` keys, each with up to ``examples`` descriptions):

``missing_created``
    an order created before its account's orders cursor (and within the horizon) has no
    ``order.created`` event -- unless the checkpoint names it as unmapped (its ``malformed``:
    the platform's answer could not be read, retried at every sweep), which is counted
    (``Report.unmapped``), not judged: it is known, not lost;
``stale_status``
    the last event of an order (by offset) carries a raw status other than the one the platform
    shows now, although the order has not changed since the account's last complete poll began
    (changes after that are *in flux*: counted, not judged); the same for refund and
    cancellation records and their raw state;
``missing_record``
    a refund or cancellation opened before its stream's cursor has no event (records are matched
    by id, then -- for platforms that derive per-unit ids from a record -- by order: an order
    with *n* records needs *n* distinct record ids among its events);
``conflicting_id``
    one event id seen with two different contents (anything but ``time``); plain repeats of the
    same content are at-least-once delivery and only counted (``Report.repeats``);
``bad_id``
    an id that is not the deterministic id of the event's content (``schemas.expected_id``);
``unknown``
    an event for an account, order or record the ground truth does not know;
``malformed``
    a record that is not a decodable event, or whose topic, key or ``ce_id`` header does not
    match its envelope;
``unobserved``
    an account stream the platform offers that has no checkpoint at all (never polled).

Commands, effects, limits and progress (:mod:`pipeline.checker.commands`,
:mod:`pipeline.checker.limits`, :func:`checkpoints_behind`):

``missing_result`` / ``extra_result``
    a command on ``commands.v1`` (or an undecodable record there, by its position) without
    exactly one final ``CommandResult``; ``orphan_result``: a result for no command;
``not_in_dlq``
    an undecodable command record that has no dead letter on ``commands-dlq.v1``;
``unexplained_effect``
    a write the platform applied (its world's write log) that no command asked for;
``double_effect``
    more applied shipments of an order than shipping commands for it (a shipment is not
    idempotent: a retried one is a second parcel);
``limit_exceeded``
    a documented rate limit exceeded in a sandbox's request log (replayed, and as refused);
``checkpoint_behind``
    an account stream whose cursor lags the check by more than its bound.

The package splits along these lines: :mod:`~pipeline.checker.reading` (topics, checkpoints),
:mod:`~pipeline.checker.truth` (worlds), :mod:`~pipeline.checker.events`,
:mod:`~pipeline.checker.commands`, :mod:`~pipeline.checker.limits`,
:mod:`~pipeline.checker.report`, and :mod:`~pipeline.checker.remote` (all of it over HTTP, for
sandboxes in another process: ``pipeline bench check``).

Readings chosen (and why):

* **Status "as the adapter renders it".** A platform's raw status is whatever its adapter maps:
  Pazarama joins item codes (``"3,12"``), Web Servis shows a code, Softtr shows none at all (its
  raw status is the one the pipeline set, so a fresh client reads ``""`` -- the check is vacuous
  there until commands run). A per-platform rendering table here would duplicate the adapters;
  a fresh client over the horizon is exact and costs a few hundred loopback requests. Only the
  raw status/state is judged: other parts of an order (items, shipments) are not compared yet.
* **Which id.** Adapters name orders by the platform's own identifier, which may be the world's
  id, number (Web Servis) or GUID; :func:`ground_truth` finds out per account (:data:`ID_FIELDS`)
  from what the adapter returns.
* **When a change is due.** A change is due on the topic once a complete poll began after it:
  :class:`Observation` ``since`` is the older of the checkpoint's cursor and its last sweep. The
  workers and the sandboxes must share a clock (one host); ``slack`` absorbs jitter.
* **Order of events.** The last event of an order is the one with the highest offset in its
  partition (one key, one partition), which is what a consumer ends up with.

The ground-truth read goes over HTTP to the sandboxes with their rate-limit rules suspended (the
checker is not the system under test) and is logged like any other request: check the request
logs for limit compliance (:func:`window_violations`, :func:`rule_violations`) *before* it.
"""

from pipeline.checker.commands import Effect, check_commands, effects_of
from pipeline.checker.events import check, check_pipeline
from pipeline.checker.limits import (
    WindowViolation,
    limit_findings,
    rule_violations,
    window_violations,
)
from pipeline.checker.progress import checkpoints_behind
from pipeline.checker.reading import (
    Observation,
    TopicRecord,
    observation_of,
    read_observations,
    read_topics,
)
from pipeline.checker.report import COMMAND_KINDS, EVENT_KINDS, KINDS, Report
from pipeline.checker.truth import (
    ID_FIELDS,
    GroundTruth,
    TruthOrder,
    TruthRecord,
    ground_truth,
    truth_from_worlds,
)

__all__ = [
    "COMMAND_KINDS",
    "EVENT_KINDS",
    "ID_FIELDS",
    "KINDS",
    "Effect",
    "GroundTruth",
    "Observation",
    "Report",
    "TopicRecord",
    "TruthOrder",
    "TruthRecord",
    "WindowViolation",
    "check",
    "check_commands",
    "check_pipeline",
    "checkpoints_behind",
    "effects_of",
    "ground_truth",
    "limit_findings",
    "observation_of",
    "read_observations",
    "read_topics",
    "rule_violations",
    "truth_from_worlds",
    "window_violations",
]
