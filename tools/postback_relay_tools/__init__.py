"""postback-relay's tools: what runs on a developer's or an operator's machine, never in Lambda.

The `postback-relay` command (cli), the local stack behind `serve` (local), the local Amplitude
(emulator), and the operators' commands (report, verify, compare, dlq, replay, forget, openapi).
The Lambda layer holds only the runtime package, `postback_relay` (layers/relay/); this one is
installed by the `local` and `dev` extras.
"""
