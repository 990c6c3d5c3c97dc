"""Resources as users declare them, the durations and ports inside them, and what they expand to."""
