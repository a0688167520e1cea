"""Clients of the Synapse services."""
