"""Each enumeration of the settings is one definition: every value works where it is used."""

from __future__ import annotations

from typing import Any

import pytest

from weespin_instrument import Client, ConfigurationError, Settings
from weespin_instrument import transports as t
from weespin_instrument._choices import OVERFLOW_POLICIES, TRANSPORT_NAMES

KINDS = {
    "background": t.BackgroundTransport,
    "sync": t.HttpTransport,
    "console": t.ConsoleTransport,
    "memory": t.MemoryTransport,
    "none": t.NullTransport,
}


@pytest.mark.parametrize("name", TRANSPORT_NAMES)
def test_every_transport_name_builds_its_transport(name: str) -> None:
    client = Client(api_key="wsk_test_key", base_url="http://127.0.0.1:9", transport=name)
    assert type(client.transport) is KINDS[name]
    client.shutdown(timeout=0.0)


@pytest.mark.parametrize("policy", OVERFLOW_POLICIES)
def test_every_overflow_policy_reaches_the_background_transport(policy: str) -> None:
    options: dict[str, Any] = {"overflow": policy}
    client = Client(api_key="wsk_test_key", base_url="http://127.0.0.1:9", **options)
    transport = client.transport
    assert isinstance(transport, t.BackgroundTransport) and transport.overflow == policy
    client.shutdown(timeout=0.0)


def test_a_value_outside_a_list_is_refused_with_the_list() -> None:
    with pytest.raises(ConfigurationError) as info:
        Settings.resolve({}, overflow="drop_everything")
    assert str(info.value) == (
        "overflow='drop_everything' is not a policy; use one of 'drop_newest', 'drop_oldest', "
        "'block'."
    )
