"""Rows of the strongest third-party clients, each doing the per-item work of ``peers.decode``."""
