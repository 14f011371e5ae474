"""Console feature: alerts."""
