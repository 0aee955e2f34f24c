"""postback-relay: attribution postbacks to Amplitude, nothing lost."""
