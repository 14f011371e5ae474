"""Console feature: feed."""
