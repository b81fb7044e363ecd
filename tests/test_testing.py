"""The pytest helpers shipped with the package."""

from __future__ import annotations

import weespin_instrument as weespin
from weespin_instrument.testing import default_client, use_memory_client


def test_default_client_installs_a_client_for_a_block_and_puts_the_old_one_back() -> None:
    outer, outer_memory = use_memory_client()
    inner, inner_memory = use_memory_client()
    with default_client(outer):
        with default_client(inner):
            weespin.track("inside")
        weespin.track("outside")
        assert weespin.get_client() is outer
    assert [e.name for e in inner_memory.events] == ["inside"]
    assert [e.name for e in outer_memory.events] == ["outside"]
    assert not inner.closed, "the caller owns the client: nothing is shut down"
