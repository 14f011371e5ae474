"""Simulated citizen devices and pilot scenarios, over the same wire contract. No Qt."""
