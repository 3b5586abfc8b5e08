"""On a Redis Cluster a flow must stay in one hash slot: the check that says so before anything is sent."""

from __future__ import annotations

import pytest

from framework.queue.flow import check_one_slot
from framework.queue.keys import QueueKeys


def test_one_queue_passes() -> None:
    """Every key of one queue shares its hash tag: accepted."""
    keys = QueueKeys("p", "reports")
    check_one_slot([*keys.flow_keys(), keys.job("7")])


def test_two_queues_are_refused_naming_them() -> None:
    """Keys of two queues (two hash tags) are refused with the queues named and the way out."""
    a, b = QueueKeys("p", "reports"), QueueKeys("p", "sections")
    with pytest.raises(ValueError, match=r"different hash slots \(reports, sections\).*one queue"):
        check_one_slot([*a.flow_keys(), *b.flow_keys()])
