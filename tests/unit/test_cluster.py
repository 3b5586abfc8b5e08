"""framework.cluster without a server: cluster URLs, the slot map's bookkeeping, errors that hide secrets."""

from __future__ import annotations

import pytest
from redis.exceptions import MovedError

from framework.cluster import ClusterTopology, is_cluster_url, parse_cluster_url
from framework.connection import create_redis, is_cluster


class TestClusterUrl:
    def test_seeds_and_options(self) -> None:
        """Every host:port is a seed; user, password and query options apply to each node."""
        seeds, options = parse_cluster_url("redis+cluster://u:p%40ss@a:7000,b:7001/0?socket_timeout=3")
        assert seeds == [("a", 7000), ("b", 7001)]
        assert options["username"] == "u" and options["password"] == "p@ss"
        assert options["socket_timeout"] == 3.0 and "ssl" not in options

    def test_tls(self) -> None:
        """`rediss+cluster://` connects with TLS."""
        _, options = parse_cluster_url("rediss+cluster://h:7000")
        assert options["ssl"] is True

    @pytest.mark.parametrize(
        ("url", "message"),
        [
            ("redis+cluster://:hunter2@a", "host:port"),
            ("redis+cluster://:hunter2@a:7000,b", "host:port"),
            ("redis+cluster://:hunter2@a:7000/2", "only database 0"),
        ],
    )
    def test_bad_url_says_what_is_wrong_without_the_password(self, url: str, message: str) -> None:
        """A malformed cluster URL is a ValueError naming the mistake, with the password hidden."""
        with pytest.raises(ValueError, match=message) as info:
            parse_cluster_url(url)
        assert "hunter2" not in str(info.value)

    def test_is_cluster(self) -> None:
        """Only the +cluster schemes are clusters."""
        assert is_cluster_url("redis+cluster://a:1") and is_cluster_url("REDISS+CLUSTER://a:1")
        assert not is_cluster_url("redis://a:1") and not is_cluster_url(None)
        assert is_cluster("redis+cluster://a:1") and not is_cluster("redis://a:1")

    def test_a_cluster_client_needs_the_key_it_is_for(self) -> None:
        """A queue's client on a cluster is made for its slot: asking without a key is a clear error."""
        with pytest.raises(TypeError, match="per hash slot"):
            create_redis("redis+cluster://127.0.0.1:1")


class TestTopology:
    def test_moved_reply_moves_the_slot_and_marks_the_map_stale(self) -> None:
        """A MOVED reply is believed at once (the next connection goes there) and the map is asked again."""
        topology = ClusterTopology([("a", 1)], {}, "test")
        topology._apply([("a", 1)] * 16384, [])
        assert topology.owner(42) == ("a", 1) and topology.is_primary(("a", 1))
        topology.moved(MovedError("42 b:2"))
        assert topology.owner(42) == ("b", 2) and topology.is_primary(("b", 2))
        assert topology._stale
        assert topology.owner(43) == ("a", 1)
