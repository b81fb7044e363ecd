"""Static checks, run by ``mypy --strict tests/typing`` in CI: flat names and groups are typed."""

from __future__ import annotations

from typing_extensions import assert_type

from weespin_instrument import DeliveryOptions, Settings

settings = Settings.resolve(max_queue=10)
assert_type(settings.base_url, str)
assert_type(settings.api.base_url, str)
assert_type(settings.max_event_age, "float | None")
assert_type(settings.delivery.max_event_age, "float | None")
assert_type(settings.device_id, "str | None")
assert_type(settings.strict, bool)
assert_type(settings._replace(delivery=DeliveryOptions(max_queue=5)), Settings)
assert_type(settings.key_hint, str)
