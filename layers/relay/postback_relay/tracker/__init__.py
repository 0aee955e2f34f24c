"""First-party attribution (docs/tracker.md): click tracking, install matching, in-app events."""
