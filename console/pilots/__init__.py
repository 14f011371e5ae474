"""The inspector's pilots feature: today the after-action report (report.py) that
`lookout-pilot rehearse` writes; the plan workspace will live here too."""
