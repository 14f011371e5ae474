"""Console feature: File -> Export (issue 14) of what the feed, the map or an incident
shows, as GeoJSON, KML or CSV (docs/interop.md, "From the console").

- `model`: what a view holds as an export job, its default file name, its scope in
  words, the audit request and the atomic write (no Qt)
- `controller`: render off the GUI thread, have the relay audit it, then write the file
- `dialog`: format, Excel BOM and where to save
"""
