"""Lookout's wire contract and the console's connection library (no Qt here).

`messages` defines every frame, `codec` is the one validating decoder, `limits` and
`errors` hold the numbers and codes both sides agree on; `rules` says who may do what.
"""

PROTOCOL_VERSION = 1
#: the two websocket endpoints of a relay: the relay routes on them, clients dial them
OFFICER_PATH = "/v1/officer"
CITIZEN_PATH = "/v1/citizen"
