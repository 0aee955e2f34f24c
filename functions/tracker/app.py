"""First-party tracker (docs/tracker.md): GET /v1/clicks, POST /v1/installs, POST /v1/events (and /api/v1/...)."""

from postback_relay.tracker.api import tracker_handler

handler = tracker_handler()
