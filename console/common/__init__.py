"""What every feature folder shares: plain-text labels, off-thread work."""
