"""Routes whose path itself is a secret: a one-time link (``/account/activate/{token}``).

A path that a route matched is logged and traced as sent, since it holds only the hub's own
identifiers (see :mod:`hub.observability.access_log`). The one exception is a link whose path
carries a credential: an account's activation or password-reset token, which sets the
password of whoever holds it until it is used. For a route whose template has a path parameter
named here, the access log and the trace show the template (``/account/activate/{token}``),
never the path.
"""

from __future__ import annotations

from typing import Final

SECRET_PARAMETERS: Final = frozenset({"token"})
"""Path parameter names that hold a credential, in every route that has one."""


def hides_path(route: str | None) -> bool:
    """Whether the route's template (``None``: no route matched) has a secret parameter."""
    return route is not None and any(f"{{{name}}}" in route for name in SECRET_PARAMETERS)
