"""Console feature: map."""
