"""Topic names and record keys: the addressing half of the contract."""

from __future__ import annotations

from typing import Final

ORDERS: Final = "orders.v1"
REFUNDS: Final = "refunds.v1"
COMMANDS: Final = "commands.v1"
COMMAND_RESULTS: Final = "command-results.v1"
COMMANDS_DLQ: Final = "commands-dlq.v1"
CHECKPOINTS: Final = "_pipeline.checkpoints"
ACCOUNTS: Final = "_pipeline.accounts"

PLATFORMS: Final = ("softtr", "pazarama", "c2c", "ecarsi", "webservis")


def order_key(platform: str, account: str, order_id: str) -> bytes:
    """Key of an event record: ``platform:account:order_id`` (per-order ordering)."""
    return f"{platform}:{account}:{order_id}".encode()


def account_key(platform: str, account: str) -> bytes:
    """Key of a command record: ``platform:account`` (one applier owns an account)."""
    return f"{platform}:{account}".encode()
