"""Helpers shared by the clients."""
