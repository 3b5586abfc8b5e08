"""Canvas (signature / chain / group / chord) turned into flow trees, without a server."""

from __future__ import annotations

import pytest

from framework import FlowJob, chain, chord, group, signature
from framework.queue.canvas import to_flow_jobs


def shape(fj: FlowJob) -> object:
    return (fj.name, [shape(c) for c in fj.children]) if fj.children else fj.name


class TestCanvas:
    def test_chain_is_a_line_from_the_last_step_down_to_the_first(self) -> None:
        """chain(a, b, c) is c <- b <- a: each step the only child of the next."""
        [root] = to_flow_jobs(chain(signature("q", "a"), signature("q", "b"), signature("q", "c")))
        assert shape(root) == ("c", [("b", ["a"])])

    def test_signature_keeps_queue_data_and_options(self) -> None:
        """A signature becomes a FlowJob with its queue, data and job options."""
        [root] = to_flow_jobs(signature("mail", "send", {"to": "x"}, attempts=3))
        assert (root.queue, root.name, root.data, root.opts) == ("mail", "send", {"to": "x"}, {"attempts": 3})

    def test_chord_puts_the_members_under_the_callback(self) -> None:
        """chord(group(a, b), cb) is cb with children a and b."""
        [root] = to_flow_jobs(chord(group(signature("q", "a"), signature("q", "b")), signature("t", "cb")))
        assert shape(root) == ("cb", ["a", "b"])

    def test_group_followed_by_a_step_in_a_chain_is_a_chord(self) -> None:
        """chain(group(a, b), c, d): c collects a and b, then d runs."""
        [root] = to_flow_jobs(
            chain(group(signature("q", "a"), signature("q", "b")), signature("q", "c"), signature("q", "d"))
        )
        assert shape(root) == ("d", [("c", ["a", "b"])])

    def test_chain_inside_a_group_and_a_chord(self) -> None:
        """chord(group(chain(a, b), c), cb): cb waits for b (after a) and c."""
        members = group(chain(signature("q", "a"), signature("q", "b")), signature("q", "c"))
        [root] = to_flow_jobs(chord(members, signature("q", "cb")))
        assert shape(root) == ("cb", [("b", ["a"]), "c"])

    def test_group_alone_gives_one_root_per_member(self) -> None:
        """A group is independent jobs: one root each."""
        roots = to_flow_jobs(group(signature("q", "a"), signature("q", "b")))
        assert [r.name for r in roots] == ["a", "b"]

    def test_group_after_a_step_is_refused_with_the_fix(self) -> None:
        """chain(a, group(b, c), d) cannot be a flow (a job has one parent): the error says what to write."""
        with pytest.raises(ValueError, match="chord"):
            to_flow_jobs(chain(signature("q", "a"), group(signature("q", "b")), signature("q", "d")))

    def test_bad_steps_are_refused(self) -> None:
        """Empty canvases and non-signature steps are clear errors."""
        with pytest.raises(ValueError, match="at least one"):
            chain()
        with pytest.raises(TypeError, match="chain step 1"):
            chain(signature("q", "a"), "b")  # type: ignore[arg-type]
