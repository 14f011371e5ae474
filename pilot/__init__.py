"""`lookout-pilot`: rehearse a pilot plan headless, against an embedded relay.

It composes the relay and the simulator (as `demo` does, and at the same layer): the
relay serves a fresh data directory over TLS on loopback, simulated phones take part with
invite codes, scripted officer stand-ins act on the event log, and the metrics are read
back from the relay's own records (`pilot.metrics`). The plan model is
`backend_client.pilots`; the format is `docs/pilots.md`.
"""
