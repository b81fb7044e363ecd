"""Identity carried by ``contextvars``: :func:`identify`, and :func:`wrap` for threads.

:func:`bound_identity` and :func:`current_visitor` are for integrations (the web
middlewares use them): a whole identity, and a new visitor's device made on demand.

Example::

    from weespin_instrument import context

    with context.identify(user_id="u_42"):
        pool.submit(context.wrap(send_receipt), order)
"""

from ._context import Identity, bound_identity, current_identity, current_visitor, identify, wrap

__all__ = ["Identity", "bound_identity", "current_identity", "current_visitor", "identify", "wrap"]
