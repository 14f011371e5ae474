"""Console feature: incidents (the Incidents dock, one incident's view, and the actions
that link, unlink and merge reports, offered on the feed)."""
