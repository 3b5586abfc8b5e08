"""`redis+sentinel://` URLs: parsed into sentinels, service, db and options; bad ones refused clearly."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from framework.sentinel import is_sentinel_url, parse_sentinel_url
from framework.settings import Settings

SECRET = "s3cr3t-pw"


def test_full_url() -> None:
    spec = parse_sentinel_url(
        f"rediss+sentinel://app:{SECRET}@10.0.0.1:26379,[::1]:26380,sentinel-3/orders/4"
        "?sentinel_password=sp&ssl_cert_reqs=none&socket_connect_timeout=3"
    )
    assert spec.sentinels == [("10.0.0.1", 26379), ("::1", 26380), ("sentinel-3", 26379)]
    assert (spec.service, spec.db, spec.tls) == ("orders", 4, True)
    assert (spec.username, spec.password, spec.sentinel_password) == ("app", SECRET, "sp")
    assert spec.options["ssl_cert_reqs"] == "none"
    assert spec.options["socket_connect_timeout"] == 3.0


def test_minimal_url() -> None:
    spec = parse_sentinel_url("redis+sentinel://127.0.0.1:7402/nestq")
    assert spec.sentinels == [("127.0.0.1", 7402)]
    assert (spec.service, spec.db, spec.tls, spec.password) == ("nestq", 0, False, None)
    assert is_sentinel_url("REDIS+SENTINEL://h/s")
    assert not is_sentinel_url("redis://h:6379")


@pytest.mark.parametrize(
    ("url", "says"),
    [
        (f"redis+sentinel://:{SECRET}@h1:26379", "names the service"),
        (f"redis+sentinel://:{SECRET}@h1:26379/svc/db1", "db in a Sentinel URL is a number"),
        (f"redis+sentinel://:{SECRET}@h1:port/svc", "bad sentinel address"),
        (f"redis+sentinel://:{SECRET}@/svc", "no sentinel address"),
        (f"redis+sentinel://:{SECRET}@h1/svc/0/extra", "names the service"),
    ],
)
def test_bad_urls_say_what_is_wrong_without_the_password(url: str, says: str) -> None:
    with pytest.raises(ValueError, match=says) as info:
        parse_sentinel_url(url)
    assert SECRET not in str(info.value)


def test_settings_refuse_a_bad_sentinel_url_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NESTQ_REDIS_URL", f"redis+sentinel://:{SECRET}@h1:26379")
    with pytest.raises(ValidationError) as info:
        Settings()
    assert "names the service" in str(info.value)
    assert SECRET not in str(info.value)
