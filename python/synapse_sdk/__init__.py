"""Fast, trustworthy client for the Synapse agent, on a Rust core."""

from synapse_sdk._core import __version__

__all__ = ['__version__']
