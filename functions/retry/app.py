"""Retry consumer: redelivers queued Amplitude calls; dead-letters what can never be delivered."""

from postback_relay.retry import handler

__all__ = ["handler"]
