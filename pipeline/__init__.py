"""The worker pipeline: pollers, appliers, sandboxes and the operator CLI."""

__version__ = "0.1.0"
