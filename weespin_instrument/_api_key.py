"""How an API key may appear in what we print: never whole.

Example::

    key_suffix("wsk_live_0123456789abcd")  # '…abcd'
"""

from __future__ import annotations

__all__ = ["key_suffix", "redact_key"]


def key_suffix(api_key: str | None) -> str:
    """Show an API key the only way it is ever shown: its last 4 characters.

    >>> key_suffix("wsk_live_0123456789abcd")
    '…abcd'
    """
    if not api_key:
        return "<not set>"
    return "…" + api_key[-4:] if len(api_key) > 8 else "…" + "*" * min(len(api_key), 4)


def redact_key(text: str, api_key: str | None) -> str:
    """``text`` with the API key replaced by its suffix, in every form a server or an HTTP
    library may write it: as is, JSON-escaped, percent-encoded, or in a ``repr``.

    For response bodies (a server may echo the request) and messages built from an HTTP
    library's exception text.

    >>> redact_key('{"headers": {"Authorization": "wsk_live_0123456789abcd"}}',
    ...            "wsk_live_0123456789abcd")
    '{"headers": {"Authorization": "…abcd"}}'
    """
    if not api_key or not text:
        return text
    import json
    from urllib.parse import quote

    shown = key_suffix(api_key)
    forms = {api_key, json.dumps(api_key)[1:-1], quote(api_key, safe=""), repr(api_key)[1:-1]}
    forms |= {repr(api_key.encode(errors="replace"))[2:-1]}
    for form in sorted(forms, key=len, reverse=True):
        if form:
            text = text.replace(form, shown)
    return text
