"""Console feature: the team (who is signed in, their role and what they hold; the
officer picker the feed's Assign uses)."""
