"""Console feature: help (the dispatcher's guide, keyboard shortcuts, About)."""
