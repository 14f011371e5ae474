"""Console feature: chat."""
