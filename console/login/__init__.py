"""Console feature: login."""
