"""Retry consumer: redelivers queued Amplitude calls; dead-letters what can never be delivered."""

from postback_relay.retry import retry_handler

handler = retry_handler()
