"""Console feature: the live feed of reports.

- `store`: the reports and the visible rows, filter and order (numpy; no Qt)
- `cells`: what each cell says (no Qt); `triage`: what the rules let an officer do (no Qt)
- `model`: the store seen as a Qt table model; `delegate`: how a row is painted
- `filters`, `actions`, `table`: the filter bar, the triage actions, the report table
- `widget`: `FeedWidget`, which composes those three over one model
"""
