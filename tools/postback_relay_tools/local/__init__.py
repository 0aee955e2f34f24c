"""Local stand-ins for the relay's external services (used by `postback-relay serve` and the tests)."""
