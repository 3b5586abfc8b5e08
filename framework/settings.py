"""Typed settings read from the environment (prefix ``NESTQ_``) and an optional ``.env`` file.

Nested settings use ``__`` as delimiter: ``NESTQ_DASHBOARD__PORT=9000`` sets ``settings.dashboard.port``.
With no ``NESTQ_REDIS_URL`` the framework runs an embedded server (see `framework.embedded`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_serializer, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["DashboardSettings", "Settings", "get_settings", "normalize_log_level", "redact_url"]

REDIS_URL_SCHEMES = (
    "redis",
    "rediss",
    "unix",
    "redis+cluster",
    "rediss+cluster",
    "redis+sentinel",
    "rediss+sentinel",
)
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

# `scheme://user:password@` anywhere in a text. The password runs to the last `@` before whitespace,
# so an unescaped `@`, `/` or `:` in it is still hidden: showing too little beats leaking a secret.
_USERINFO_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^:/?#@\s]*:)\S+(?=@)")
# redis-py also reads the password from the query string: `unix:///run/redis.sock?password=...`.
# `scheme://secret@host`: a lone userinfo part may be a password (redis-py sends it to AUTH as the user name,
# and people write tokens there): hidden too.
_USERINFO_ALONE = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^:/?#@\s]+(?=@)")
_QUERY_PASSWORD = re.compile(r"(?P<head>[?&]password=)[^&#\s]+", re.IGNORECASE)


def redact_url(url: str) -> str:
    """Hide every password in a URL, or in a text that contains URLs.

    Args:
        url: a URL such as ``redis://user:secret@host:6379/0``, or any text.

    Returns:
        The same text with each password replaced by ``***``
        (``redis://user:***@host:6379/0``); text without a password is returned unchanged.
    """
    if "://" not in url and "password=" not in url.lower():
        return url
    url = _USERINFO_PASSWORD.sub(r"\g<head>***", url)
    url = _USERINFO_ALONE.sub(r"\g<head>***", url)
    return _QUERY_PASSWORD.sub(r"\g<head>***", url)


def normalize_log_level(value: str) -> str:
    """Return the standard name of a log level given in any case (``"warn"`` -> ``"WARNING"``).

    Raises:
        ValueError: for a name that is not a level.
    """
    level = value.strip().upper()
    level = "WARNING" if level == "WARN" else level
    if level not in _LOG_LEVELS:
        raise ValueError(f"log level must be one of {', '.join(_LOG_LEVELS)}, got {value!r}")
    return level


class DashboardSettings(BaseModel):
    """Settings of the web dashboard (``NESTQ_DASHBOARD__*``).

    Attributes:
        enabled: serve the dashboard when the application runs an HTTP server.
        host: interface to bind; the default keeps it private to this machine.
        port: TCP port.
        base_path: URL path the dashboard is mounted under.
        read_only: hide every action that changes a queue or a job.
        username: HTTP basic auth user (set together with ``password``).
        password: HTTP basic auth password.
        token: bearer token accepted instead of basic auth.
        metrics: also serve the Prometheus exposition at ``/metrics`` (same auth as the dashboard).
    """

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    base_path: str = "/admin/queues"
    read_only: bool = False
    username: SecretStr | None = None
    password: SecretStr | None = None
    token: SecretStr | None = None
    metrics: bool = True

    @field_validator("base_path")
    @classmethod
    def _normalize_base_path(cls, value: str) -> str:
        # One spelling ("/admin/queues", or "" for the root) so routes can be joined without checks.
        value = value.strip()
        if value and not value.startswith("/"):
            value = "/" + value
        return value.rstrip("/")

    @model_validator(mode="after")
    def _basic_auth_is_complete(self) -> DashboardSettings:
        if (self.username is None) != (self.password is None):
            raise ValueError(
                "dashboard basic auth needs both NESTQ_DASHBOARD__USERNAME and NESTQ_DASHBOARD__PASSWORD"
            )
        return self


class Settings(BaseSettings):
    """Everything nestq reads from the environment.

    ``redis_url`` is a plain ``str`` so it can be handed to a client as is, but it is never shown
    with its password: ``repr()``/``str()`` and ``model_dump_json()`` redact it, and
    `redacted_redis_url` gives the printable form. ``model_dump()`` (Python mode) keeps the real value.

    Attributes:
        redis_url: ``redis://``, ``rediss://`` (TLS) or ``unix://`` URL, or a Redis Cluster:
            ``redis+cluster://host:port[,host:port...]`` (``rediss+cluster://`` for TLS; any node is a seed),
            or a Sentinel-managed master: ``redis+sentinel://host:port[,host:port...]/SERVICE[/db]``
            (``rediss+sentinel://``); password and TLS options go in the URL. None (the default) runs the
            embedded server.
        prefix: first part of every key nestq writes.
        log_format: ``console`` (human, for development) or ``json`` (one object per line).
        log_level: ``DEBUG``, ``INFO``, ``WARNING``, ``ERROR`` or ``CRITICAL``.
        embedded_dir: folder of the embedded server's data, relative to the working directory. When
            not set, the nearest ``.nestq/`` in the working directory or above it is used (as git finds
            ``.git``), else ``./.nestq`` is created.
        home: ``NESTQ_HOME``: the embedded server's folder wherever the command runs (wins over
            ``embedded_dir`` and the search).
        dashboard: the dashboard's settings.
        command_timeout: seconds a producer's or admin call's command may wait for Redis to answer
            (``NESTQ_COMMAND_TIMEOUT``, default 5): a paused or cut-off server fails the call with
            `CommandTimeoutError` instead of hanging it. Blocking reads (workers waiting for jobs, event
            listeners) bound their own waits and are not affected.
    """

    model_config = SettingsConfigDict(
        env_prefix="NESTQ_",
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        # A shared .env usually holds other programs' variables too.
        extra="ignore",
        # pydantic prints the rejected input in its errors: that would leak a mistyped URL's password.
        hide_input_in_errors=True,
    )

    redis_url: str | None = None
    prefix: str = "nestq"
    log_format: Literal["console", "json"] = "console"
    log_level: str = "INFO"
    embedded_dir: Path = Path(".nestq")
    home: Path | None = None
    dashboard: DashboardSettings = Field(default_factory=DashboardSettings)
    command_timeout: float = Field(default=5.0, gt=0, le=3600)

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            # `NESTQ_REDIS_URL=` (empty) means "not set": use the embedded server.
            return None
        value = value.strip()
        scheme = value.partition("://")[0].lower()
        if scheme not in REDIS_URL_SCHEMES:
            raise ValueError(
                "NESTQ_REDIS_URL must start with redis://, rediss:// or unix:// (redis+cluster:// or "
                "rediss+cluster:// for a Redis Cluster, redis+sentinel:// or rediss+sentinel:// for a "
                f"Sentinel-managed master), got {redact_url(value)!r}"
            )
        if scheme.endswith("+cluster"):
            from framework.cluster import parse_cluster_url

            parse_cluster_url(value)  # a clear error now rather than at the first command
        if scheme.endswith("+sentinel"):
            from framework.sentinel import parse_sentinel_url

            parse_sentinel_url(value)  # a clear error now rather than at the first connection
        return value

    @field_validator("prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        # Braces would break the `{prefix:queue}` hash tag that keeps a queue's keys on one cluster slot.
        if not value or "{" in value or "}" in value:
            raise ValueError(f"NESTQ_PREFIX must be non-empty and contain no braces, got {value!r}")
        return value

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower_log_format(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        return normalize_log_level(value)

    @field_serializer("redis_url", when_used="json")
    def _redact_redis_url_in_json(self, value: str | None) -> str | None:
        return None if value is None else redact_url(value)

    @property
    def redacted_redis_url(self) -> str | None:
        """``redis_url`` with its password replaced by ``***``, safe to print or log."""
        return None if self.redis_url is None else redact_url(self.redis_url)

    @property
    def log_level_number(self) -> int:
        """``log_level`` as a `logging` level number."""
        return logging.getLevelNamesMapping()[self.log_level]

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # repr() and str() both come through here.
        for name, value in super().__repr_args__():
            if name == "redis_url" and isinstance(value, str):
                value = redact_url(value)
            yield name, value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings, read once from the environment and ``.env``.

    Tests that change the environment call ``get_settings.cache_clear()`` to read it again.
    """
    return Settings()
