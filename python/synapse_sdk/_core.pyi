"""Type stubs of the Rust extension ``synapse_sdk._core``."""

from collections.abc import Iterator
from typing import Any

__version__: str

# --- client (owned by the core) ---

# --- fake agent (owned by rust/src/fake, rust/src/py/fake.rs) ---
