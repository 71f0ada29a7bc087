"""Shares: one organisation granting another read access, for a purpose and a limited time."""
