"""Console feature: dashboard."""
