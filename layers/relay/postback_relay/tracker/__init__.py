"""First-party attribution (seed 002): click tracking, install matching, in-app events."""
