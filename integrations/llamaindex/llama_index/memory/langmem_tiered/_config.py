"""Connection configuration shared by the integration's pydantic classes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from langmem_tiered import (
    ConfigurationError,
    LangmemError,
    SessionKey,
    TieredMemory,
)

from ._clients import RemoteAsync, async_client, config_key, sync_client

__all__ = ["TieredConfig"]


class TieredConfig(BaseModel):
    """Where the tiered memory lives: JSON fields only, so the object round-trips through
    ``to_dict()`` / ``from_dict()``; the core memories are looked up per process (see
    :mod:`._clients`)."""

    model_config = ConfigDict(populate_by_name=True, arbitrary_types_allowed=True)

    postgres_url: str | None = Field(
        default=None, description="Postgres URL; None: the embedded server (in `path`)."
    )
    redis_url: str | None = Field(
        default=None, description="Redis URL of the hot tier; None: in-process hot tier."
    )
    path: str | None = Field(
        default=None, description="Data folder of the embedded Postgres (postgres_url=None)."
    )
    db_schema: str = Field(default="langmem", alias="schema", description="Postgres schema.")
    redis_prefix: str = Field(default="lmt", description="First part of every Redis key.")
    tenant: str = Field(default="default", description="Tenant id.")
    user: str = Field(default="default", description="User id (facts are per user).")
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="JSON options of the core memory (window_size, summarize, buffer_tokens...).",
    )
    profile: str | None = Field(
        default=None,
        description="Name of core options registered with register_profile() (non-JSON objects).",
    )

    @field_validator("options")
    @classmethod
    def _json_options(cls, value: dict[str, Any]) -> dict[str, Any]:
        config_key(value)  # JSON values only: the object must survive to_dict()/from_dict()
        return value

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            for error in exc.errors():
                cause = (error.get("ctx") or {}).get("error")
                if isinstance(cause, LangmemError):
                    raise cause from None
            raise ConfigurationError(f"invalid {type(self).__name__} fields: {exc}") from None

    def _core_config(self) -> dict[str, Any]:
        return {
            "postgres_url": self.postgres_url,
            "redis_url": self.redis_url,
            "path": self.path,
            "schema": self.db_schema,
            "redis_prefix": self.redis_prefix,
            "options": self.options,
            "profile": self.profile,
        }

    def _sync_memory(self) -> TieredMemory:
        return sync_client(self._core_config())

    def _async_memory(self) -> Any:
        """The async core memory, its async methods run on the runner loop (see _clients)."""
        config = self._core_config()
        return RemoteAsync(lambda: async_client(config))

    def _async_session(self, session: str) -> Any:
        """An :class:`~langmem_tiered.AsyncSession` whose methods run on the runner loop."""
        config, tenant, user = self._core_config(), self.tenant, self.user
        return RemoteAsync(lambda: async_client(config).session(tenant, user, session))

    def _check_ids(self, session: str | None = None) -> None:
        SessionKey(self.tenant, self.user, session if session is not None else "check")
