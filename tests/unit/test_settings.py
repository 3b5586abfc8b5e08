"""Settings from the environment, URL redaction, and the structured logging setup."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from pydantic import ValidationError

from framework.logging import configure_logging, get_logger, redact_secrets
from framework.settings import Settings, get_settings, redact_url

SECRET = "s3cr3t-pw"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Each test sees no NESTQ_* variable, no .env file, fresh settings and default logging."""
    import os

    for name in list(os.environ):
        if name.upper().startswith("NESTQ_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    get_settings.cache_clear()
    structlog.reset_defaults()
    root.handlers[:] = handlers
    root.setLevel(level)


def json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


class TestRedactUrl:
    def test_hides_the_password_and_keeps_the_rest(self) -> None:
        """User, host, port and database stay readable; only the password goes."""
        assert (
            redact_url(f"redis://alice:{SECRET}@db.example:6380/2") == "redis://alice:***@db.example:6380/2"
        )

    def test_password_without_user(self) -> None:
        """The common `redis://:password@host` form is redacted too."""
        assert redact_url(f"rediss://:{SECRET}@host:6379") == "rediss://:***@host:6379"

    def test_url_without_password_is_unchanged(self) -> None:
        """A host:port pair is not mistaken for user:password."""
        for url in ("redis://localhost:6379/0", "unix:///run/redis.sock"):
            assert redact_url(url) == url

    def test_lone_userinfo_is_hidden(self) -> None:
        """`redis://token@host` may carry a password (some clients read it so): hidden, like a password."""
        assert redact_url("redis://alice@host") == "redis://***@host"

    def test_password_in_query_string(self) -> None:
        """redis-py also takes `?password=`, which is hidden as well."""
        assert redact_url(f"unix:///run/redis.sock?db=1&password={SECRET}") == (
            "unix:///run/redis.sock?db=1&password=***"
        )

    def test_password_with_reserved_characters(self) -> None:
        """An unescaped `@` or `/` in the password does not let part of it through."""
        redacted = redact_url("redis://u:p@ss/w0rd@host:6379")
        assert redacted == "redis://u:***@host:6379"

    def test_urls_inside_a_text(self) -> None:
        """Every URL in an error message is redacted."""
        text = f"cannot reach redis://:{SECRET}@a:1 nor rediss://u:{SECRET}@b:2, giving up"
        assert SECRET not in redact_url(text)
        assert "redis://:***@a:1" in redact_url(text)


class TestSettings:
    def test_defaults(self) -> None:
        """With nothing set: embedded server, console logs at INFO, dashboard on localhost."""
        settings = Settings()
        assert settings.redis_url is None
        assert settings.prefix == "nestq"
        assert settings.log_format == "console"
        assert settings.log_level == "INFO"
        assert settings.embedded_dir == Path(".nestq")
        assert settings.dashboard.enabled is True
        assert settings.dashboard.host == "127.0.0.1"
        assert settings.dashboard.port == 8000
        assert settings.dashboard.base_path == "/admin/queues"
        assert settings.dashboard.read_only is False
        assert settings.dashboard.username is None and settings.dashboard.token is None

    def test_env_prefix(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Every field is read from a NESTQ_-prefixed variable."""
        monkeypatch.setenv("NESTQ_REDIS_URL", "rediss://cache.internal:6380/1")
        monkeypatch.setenv("NESTQ_PREFIX", "shop")
        monkeypatch.setenv("NESTQ_LOG_FORMAT", "JSON")
        monkeypatch.setenv("NESTQ_LOG_LEVEL", "debug")
        monkeypatch.setenv("NESTQ_EMBEDDED_DIR", "/var/lib/nestq")
        settings = Settings()
        assert settings.redis_url == "rediss://cache.internal:6380/1"
        assert settings.prefix == "shop"
        assert settings.log_format == "json"
        assert settings.log_level == "DEBUG"
        assert settings.log_level_number == logging.DEBUG
        assert settings.embedded_dir == Path("/var/lib/nestq")

    def test_nested_delimiter(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """NESTQ_DASHBOARD__PORT reaches settings.dashboard.port."""
        monkeypatch.setenv("NESTQ_DASHBOARD__PORT", "9100")
        monkeypatch.setenv("NESTQ_DASHBOARD__READ_ONLY", "true")
        monkeypatch.setenv("NESTQ_DASHBOARD__TOKEN", "tok")
        settings = Settings()
        assert settings.dashboard.port == 9100
        assert settings.dashboard.read_only is True
        assert settings.dashboard.token is not None
        assert settings.dashboard.token.get_secret_value() == "tok"

    def test_dotenv_file(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        """A .env file in the working directory is read, and the environment wins over it."""
        (tmp_path / ".env").write_text(
            "NESTQ_PREFIX=fromfile\nNESTQ_DASHBOARD__PORT=8123\nOTHER_APP_SETTING=ignored\n"
        )
        assert Settings().prefix == "fromfile"
        assert Settings().dashboard.port == 8123
        monkeypatch.setenv("NESTQ_PREFIX", "fromenv")
        assert Settings().prefix == "fromenv"

    @pytest.mark.parametrize(
        "url",
        [
            "redis://localhost:6379/0",
            "rediss://u:p@host:6380",
            "unix:///run/redis.sock?db=2",
            "redis+sentinel://s1:26379,s2:26379/mymaster/2",
            "rediss+sentinel://:pw@s1:26379/mymaster",
        ],
    )
    def test_accepted_url_schemes(self, monkeypatch: pytest.MonkeyPatch, url: str) -> None:
        """redis://, rediss:// and unix:// URLs are accepted as they are."""
        monkeypatch.setenv("NESTQ_REDIS_URL", url)
        assert Settings().redis_url == url

    def test_empty_url_means_embedded(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """`NESTQ_REDIS_URL=` (set but empty) is the same as not set."""
        monkeypatch.setenv("NESTQ_REDIS_URL", " ")
        assert Settings().redis_url is None

    def test_bad_scheme_is_refused_without_showing_the_password(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A wrong scheme is an error that names the allowed ones and hides the password."""
        monkeypatch.setenv("NESTQ_REDIS_URL", f"http://:{SECRET}@host:6379")
        with pytest.raises(ValidationError) as info:
            Settings()
        message = str(info.value)
        for scheme in ("redis://", "rediss://", "unix://", "redis+sentinel://", "rediss+sentinel://"):
            assert scheme in message
        assert SECRET not in message

    @pytest.mark.parametrize(
        ("name", "value"),
        [
            ("NESTQ_LOG_FORMAT", "xml"),
            ("NESTQ_LOG_LEVEL", "chatty"),
            ("NESTQ_PREFIX", "{bad}"),
            ("NESTQ_DASHBOARD__PORT", "70000"),
        ],
    )
    def test_invalid_values_are_refused(self, monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
        """Values nestq cannot use fail at start-up, not later."""
        monkeypatch.setenv(name, value)
        with pytest.raises(ValidationError):
            Settings()

    def test_basic_auth_needs_both_parts(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A dashboard user without a password (or the reverse) is a configuration error."""
        monkeypatch.setenv("NESTQ_DASHBOARD__USERNAME", "admin")
        with pytest.raises(ValidationError, match="PASSWORD"):
            Settings()
        monkeypatch.setenv("NESTQ_DASHBOARD__PASSWORD", SECRET)
        assert Settings().dashboard.password is not None

    def test_base_path_is_normalized(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The dashboard path always starts with one slash and never ends with one."""
        monkeypatch.setenv("NESTQ_DASHBOARD__BASE_PATH", "ops/queues/")
        assert Settings().dashboard.base_path == "/ops/queues"

    def test_repr_and_str_hide_passwords(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Printing the settings shows neither the URL's password nor the dashboard's secrets."""
        monkeypatch.setenv("NESTQ_REDIS_URL", f"redis://app:{SECRET}@db:6379/0")
        monkeypatch.setenv("NESTQ_DASHBOARD__USERNAME", "admin")
        monkeypatch.setenv("NESTQ_DASHBOARD__PASSWORD", SECRET)
        monkeypatch.setenv("NESTQ_DASHBOARD__TOKEN", SECRET)
        settings = Settings()
        for text in (repr(settings), str(settings), f"{settings}", settings.model_dump_json()):
            assert SECRET not in text
            assert "redis://app:***@db:6379/0" in text
        assert settings.redacted_redis_url == "redis://app:***@db:6379/0"

    def test_the_real_url_stays_usable(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Redaction is only for display: the attribute and model_dump() keep the password."""
        url = f"redis://app:{SECRET}@db:6379/0"
        monkeypatch.setenv("NESTQ_REDIS_URL", url)
        settings = Settings()
        assert settings.redis_url == url
        assert settings.model_dump()["redis_url"] == url

    def test_get_settings_is_cached_until_cleared(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """get_settings() reads the environment once; cache_clear() makes it read again."""
        first = get_settings()
        assert get_settings() is first
        monkeypatch.setenv("NESTQ_PREFIX", "changed")
        assert get_settings().prefix == "nestq"
        get_settings.cache_clear()
        assert get_settings().prefix == "changed"


class TestLogging:
    def test_json_lines_carry_timestamp_level_event_and_context(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Each json line is one object with the bound per-job context."""
        configure_logging(format="json", level="INFO")
        with structlog.contextvars.bound_contextvars(queue="email", job_id="42", job_name="send", attempt=2):
            get_logger("tests").info("job started", extra_key=1)
        get_logger("tests").info("outside")
        first, second = json_lines(capsys.readouterr().err)
        assert first["event"] == "job started"
        assert first["level"] == "info"
        assert isinstance(first["timestamp"], str) and first["timestamp"].endswith("Z")
        assert first["logger"] == "tests"
        assert (first["queue"], first["job_id"], first["job_name"], first["attempt"]) == (
            "email",
            "42",
            "send",
            2,
        )
        assert first["extra_key"] == 1
        assert second["event"] == "outside" and "job_id" not in second

    def test_stdlib_loggers_share_the_renderer_and_context(self, capsys: pytest.CaptureFixture[str]) -> None:
        """Records of stdlib loggers (uvicorn, redis) come out as the same json with the job context."""
        configure_logging(format="json", level="INFO")
        with structlog.contextvars.bound_contextvars(job_id="7"):
            logging.getLogger("uvicorn.error").warning("port %d busy", 8000)
        (line,) = json_lines(capsys.readouterr().err)
        assert line["event"] == "port 8000 busy"
        assert line["level"] == "warning"
        assert line["logger"] == "uvicorn.error"
        assert line["job_id"] == "7"

    def test_console_format(self, capsys: pytest.CaptureFixture[str]) -> None:
        """The console format is one readable line with the event and its context."""
        configure_logging(format="console", level="INFO")
        with structlog.contextvars.bound_contextvars(queue="reports"):
            get_logger("tests").info("hello")
        (line,) = capsys.readouterr().err.splitlines()
        assert "hello" in line and "queue=reports" in line and "info" in line

    def test_level_filters(self, capsys: pytest.CaptureFixture[str]) -> None:
        """Lines below the configured level are dropped, for structlog and stdlib loggers alike."""
        configure_logging(format="json", level="WARNING")
        get_logger("tests").info("hidden")
        logging.getLogger("other").info("hidden too")
        get_logger("tests").warning("shown")
        assert [line["event"] for line in json_lines(capsys.readouterr().err)] == ["shown"]

    def test_configuring_twice_installs_one_handler(self, capsys: pytest.CaptureFixture[str]) -> None:
        """Calling configure_logging again replaces the setup instead of doubling every line."""
        configure_logging(format="console", level="INFO")
        configure_logging(format="json", level="INFO")
        get_logger("tests").info("once")
        assert [line["event"] for line in json_lines(capsys.readouterr().err)] == ["once"]

    def test_defaults_come_from_settings(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """With no arguments, NESTQ_LOG_FORMAT and NESTQ_LOG_LEVEL decide."""
        monkeypatch.setenv("NESTQ_LOG_FORMAT", "json")
        monkeypatch.setenv("NESTQ_LOG_LEVEL", "error")
        configure_logging()
        get_logger("tests").warning("dropped")
        get_logger("tests").error("kept")
        assert [line["event"] for line in json_lines(capsys.readouterr().err)] == ["kept"]

    def test_unknown_format_or_level_is_refused(self) -> None:
        """A typo in the arguments is an error, not silent default logging."""
        with pytest.raises(ValueError, match="format"):
            configure_logging(format="yaml", level="INFO")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="level"):
            configure_logging(format="json", level="LOUD")

    @pytest.mark.parametrize("log_format", ["json", "console"])
    def test_passwords_never_reach_the_output(
        self,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
        log_format: str,
    ) -> None:
        """URLs in values, nested values, messages, objects and tracebacks are all redacted."""
        url = f"redis://app:{SECRET}@db:6379/0"
        monkeypatch.setenv("NESTQ_REDIS_URL", url)
        configure_logging(format=log_format, level="DEBUG")  # type: ignore[arg-type]
        log = get_logger("tests")
        log.info("connecting", url=url, nested={"urls": [url, (url,)]})
        log.info(f"connecting to {url}")
        log.info("settings", settings=Settings())
        logging.getLogger("redis").warning("cannot connect to %s", url)
        try:
            raise ConnectionError(f"refused by {url}")
        except ConnectionError:
            log.exception("failed")
        output = capsys.readouterr().err
        assert SECRET not in output
        assert output.count("redis://app:***@db:6379/0") >= 6

    def test_redact_secrets_processor(self) -> None:
        """The processor can be used in a custom structlog chain."""
        event = {"event": f"x redis://:{SECRET}@h", "n": 1, "items": [f"rediss://u:{SECRET}@h"]}
        result = redact_secrets(None, "info", event)
        assert result == {"event": "x redis://:***@h", "n": 1, "items": ["rediss://u:***@h"]}

    def test_capture_logs_sees_bound_events(self) -> None:
        """get_logger() loggers work with structlog's own test helper."""
        configure_logging(format="json", level="INFO")
        with structlog.testing.capture_logs() as logs:
            get_logger("tests").info("captured", job_id="1")
        assert logs == [{"event": "captured", "job_id": "1", "log_level": "info"}]
