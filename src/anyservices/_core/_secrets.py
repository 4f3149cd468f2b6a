"""Secret masking: the one place that decides what of a URL may be shown.

Used for reprs, log lines and error messages of every service. It errs on the side of
hiding: a URL too broken to parse loses more than its password, never less.
"""

from __future__ import annotations

__all__ = ("MASK", "is_secret_name", "mask_query", "mask_url")

MASK = "***"

# Option, header and query names whose values can be secrets (passwords, API keys, AWS
# session tokens, signatures, Mongo's authMechanismProperties, ...).
_SECRET_WORDS = (
    "password",
    "passwd",
    "pwd",
    "token",
    "secret",
    "key",
    "signature",
    "sig",
    "auth",
    "credential",
    "cookie",
)


def is_secret_name(name: str) -> bool:
    """Whether an option, header or query parameter called ``name`` may hold a secret."""
    lowered = name.lower()
    return any(word in lowered for word in _SECRET_WORDS)


def mask_url(url: object) -> str:
    """``url`` with its userinfo (``user:password@``) and secret query values masked.

    Everything up to the LAST ``@`` counts as userinfo, so a password holding ``/``,
    ``?`` or ``@`` is hidden whole (``redis://:pa/hunter2pw@h/0`` gives
    ``redis://***@h/0``). Never raises: anything that is not a string gives ``***``.
    """
    if not isinstance(url, str):
        return MASK
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    at = rest.rfind("@")
    if at != -1:
        rest = f"{MASK}@{rest[at + 1 :]}"
    base, qmark, query = rest.partition("?")
    if qmark:
        query, hash_, fragment = query.partition("#")
        rest = f"{base}?{mask_query(query)}{hash_}{fragment}"
    return f"{scheme}{sep}{rest}"


def mask_query(query: str) -> str:
    """A query string (``a=1&token=x``, ``;`` separators too) with secret values masked.

    For URLs already parsed (whose userinfo is known): :func:`mask_url` is for text.
    """
    return "&".join(
        ";".join(_mask_option(option) for option in part.split(";")) for part in query.split("&")
    )


def _mask_option(option: str) -> str:
    name, eq, _ = option.partition("=")
    if eq and is_secret_name(name):
        return f"{name}={MASK}"
    return option
