"""Static checks of ``weespin_instrument.events`` and ``schema=``: names are literal strings,
a schema-validated decorator keeps the exact type, and a non-model schema is a type error."""

from __future__ import annotations

from typing import Literal

from typing_extensions import assert_type

import weespin_instrument as weespin
from weespin_instrument import events

assert_type(events.PURCHASE, Literal["purchase"])


@weespin.track_event(events.PURCHASE, payload_from=["amount"], schema=events.Purchase)
def checkout(amount: float) -> str:
    return "r_1"


assert_type(checkout(19.99), str)
weespin.track(events.LOGIN, {"method": "password"}, schema=events.Login)
with weespin.tracked(events.SIGNUP, schema=events.Signup) as event:
    event.set(plan="pro")
