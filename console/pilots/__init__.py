"""The inspector's pilots feature: the plan workspace (`plan_edit.py`, Qt-free, edited
through `workspace.py` and drawn on `timeline_view.py`; `console/inspector_window.py` puts
it beside the map), and the printers the pilot tools run: the after-action report
(`model.py` lays it out, `report.py` prints it) and the invitation sheet."""
