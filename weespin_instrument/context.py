"""Identity carried by ``contextvars``: :func:`identify`, and :func:`wrap` for threads.

Example::

    from weespin_instrument import context

    with context.identify(user_id="u_42"):
        pool.submit(context.wrap(send_receipt), order)
"""

from ._context import Identity, current_identity, identify, wrap

__all__ = ["Identity", "current_identity", "identify", "wrap"]
