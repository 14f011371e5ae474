"""Console feature: detail."""
