"""Status rules as data: each platform simulator declares its statuses, what happens to an order
by itself over time, and what a seller write may do. Nothing here knows a status's meaning.

- ``seller``: ``{source: {targets}}`` — the only transitions a write may cause. Anything else is
  rejected (:class:`TransitionRejected`), and the simulator answers with its vendor's error.
- ``automatic``: :class:`AutoTransition` rows — the customer cancels a new order with probability
  p within a delay, the carrier delivers after one to three days, the customer opens a return.
  ``scope="order"`` rules look at the order's derived status and move every item still at
  ``source``; ``scope="item"`` rules run for each item on its own (one item of three returned).
- ``derive``: the order status from its items' statuses (per-item platforms); the default is the
  common status, or the most frequent one when items differ (ties: the first item's).

A refund or cancellation is a :class:`RecordLifecycle`: its own statuses, its own seller and
automatic tables, and ``item_effects`` (record reaches ``approved`` → its items become
``return approved``), applied by the platform, not checked against the item seller table.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Literal

import msgspec

Scope = Literal["order", "item"]
DeriveStatus = Callable[[Sequence[str]], str]


class AutoTransition(msgspec.Struct, frozen=True, kw_only=True):
    """A transition that happens without the seller, after a random delay, maybe."""

    source: str
    target: str
    after: tuple[float, float]  # delay range in seconds, drawn uniformly
    probability: float = 1.0
    scope: Scope = "order"
    actor: str = "customer"
    # Opening a record: "refund" (a return request) or "cancellation", in the record lifecycle's
    # initial status unless ``record_status`` says otherwise (a cancellation already done).
    creates: Literal["refund", "cancellation"] | None = None
    record_status: str | None = None

    def __post_init__(self) -> None:
        low, high = self.after
        if not 0 <= low <= high:
            raise ValueError(f"AutoTransition {self.source}->{self.target}: bad delay {self.after}")
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"AutoTransition {self.source}->{self.target}: bad probability")


class Rejection(msgspec.Struct, frozen=True):
    item_line: int | None
    source: str
    target: str


class TransitionRejected(Exception):
    """A seller write asked for a transition the platform's table does not allow."""

    def __init__(self, subject: str, rejections: Sequence[Rejection]) -> None:
        self.subject = subject
        self.rejections = list(rejections)
        moves = ", ".join(
            f"{'item ' + str(r.item_line) if r.item_line else 'order'}: {r.source}->{r.target}"
            for r in self.rejections
        )
        super().__init__(f"{subject}: transition not allowed ({moves})")


def most_common_status(statuses: Sequence[str]) -> str:
    counts = Counter(statuses)
    best = max(counts.values())
    return next(s for s in statuses if counts[s] == best)


def _check_known(label: str, known: frozenset[str], names: Iterable[str]) -> None:
    unknown = sorted(set(names) - known)
    if unknown:
        raise ValueError(f"{label}: statuses not declared: {unknown}")


class _Rules:
    def __init__(
        self,
        *,
        statuses: Iterable[str],
        initial: str,
        seller: Mapping[str, Iterable[str]],
        automatic: Sequence[AutoTransition],
        allow_same_status: bool,
    ) -> None:
        self.statuses = frozenset(statuses)
        self.initial = initial
        self.seller: dict[str, frozenset[str]] = {s: frozenset(t) for s, t in seller.items()}
        self.automatic = tuple(automatic)
        self.allow_same_status = allow_same_status
        label = type(self).__name__
        _check_known(label, self.statuses, [initial, *self.seller])
        _check_known(label, self.statuses, [t for ts in self.seller.values() for t in ts])
        _check_known(label, self.statuses, [a.source for a in self.automatic])
        _check_known(label, self.statuses, [a.target for a in self.automatic])

    def seller_allows(self, source: str, target: str) -> bool:
        if source == target and self.allow_same_status:
            return True
        return target in self.seller.get(source, frozenset())

    def seller_targets(self, source: str) -> frozenset[str]:
        return self.seller.get(source, frozenset())

    def automatic_from(
        self, source: str, scope: Scope | None = None
    ) -> list[tuple[int, AutoTransition]]:
        return [
            (index, rule)
            for index, rule in enumerate(self.automatic)
            if rule.source == source and (scope is None or rule.scope == scope)
        ]


class Lifecycle(_Rules):
    """An order lifecycle: item statuses, the seller and automatic tables, and ``derive``."""

    def __init__(
        self,
        *,
        statuses: Iterable[str],
        initial: str,
        seller: Mapping[str, Iterable[str]],
        automatic: Sequence[AutoTransition] = (),
        derive: DeriveStatus | None = None,
        allow_same_status: bool = True,
    ) -> None:
        super().__init__(
            statuses=statuses,
            initial=initial,
            seller=seller,
            automatic=automatic,
            allow_same_status=allow_same_status,
        )
        self.derive: DeriveStatus = derive or most_common_status


class RecordLifecycle(_Rules):
    """The lifecycle of refund (return) or cancellation records."""

    def __init__(
        self,
        *,
        statuses: Iterable[str],
        initial: str,
        seller: Mapping[str, Iterable[str]],
        automatic: Sequence[AutoTransition] = (),
        item_effects: Mapping[str, str] | None = None,
        allow_same_status: bool = False,
    ) -> None:
        super().__init__(
            statuses=statuses,
            initial=initial,
            seller=seller,
            automatic=automatic,
            allow_same_status=allow_same_status,
        )
        self.item_effects = dict(item_effects or {})
