"""Data that ppfom makes itself: the built-in sample (and, later, synthetic training videos)."""
