"""Lookout's wire contract and the console's connection library (no Qt here).

`messages` defines every frame, `codec` is the one validating decoder, `limits` and
`errors` hold the numbers and codes both sides agree on.
"""

PROTOCOL_VERSION = 1
