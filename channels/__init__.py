"""Channel adapters: one module per channel, the contract in ``channels.base``.

Imports neither Flask nor SQLModel, so adapters can be tested and reused alone.
"""

from channels.base import (  # noqa: F401
    Adapter,
    ConfigError,
    ConfigField,
    CredentialStore,
    DictCredentials,
    Health,
    MediaFile,
    Message,
    Outcome,
    SendResult,
)
from channels.registry import adapter_class, names  # noqa: F401
