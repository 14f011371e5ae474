"""Console feature: status."""
