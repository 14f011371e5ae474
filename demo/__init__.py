"""`lookout --demo`: the console over an embedded relay with simulated citizens.

The only package that composes console, relay and simulator (DESIGN.md, "The parts"):
`embedded` runs the relay and the simulator, `cli` is the `lookout` command.
"""
