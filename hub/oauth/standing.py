"""Whether a validly signed token may still act: the hub's answer to
:data:`auth.tokens.Standing`, asked on every API request.

A token may act while

- its scopes keep the duties apart (:func:`auth.scopes.check_separation`). The token endpoint
  issues no other kind; this also refuses one issued before the rule, and a trusted issuer's
  token that combines them;
- its organisation is known and enabled, whoever issued it;
- for a token the hub issued, its client is not disabled. (A trusted issuer's clients are not
  the hub's to know.)

The answers come from the cached views in :mod:`hub.organisations.directory` and
:mod:`hub.clients.directory`, so a disabled organisation or client is refused on every replica
within :data:`~hub.cached.CUT_OFF` seconds. The refusal is a 401 ``invalid_token`` like a
revoked token's, and, like it, is not recorded: the token no longer authenticates anyone.
"""

from __future__ import annotations

from auth.scopes import check_separation
from auth.tokens import Principal
from hub.clients.directory import DisabledClients
from hub.organisations.directory import OrganisationDirectory


class Standing:
    """``standing(principal)``: why the token may not act, or ``None``."""

    def __init__(
        self,
        *,
        issuer: str,
        organisations: OrganisationDirectory,
        disabled_clients: DisabledClients,
    ) -> None:
        self._issuer = issuer
        self._organisations = organisations
        self._disabled_clients = disabled_clients

    def __call__(self, principal: Principal) -> str | None:
        try:
            check_separation(principal.scopes)
        except ValueError as exc:
            return f"the token's scopes are refused: {exc}"
        known = self._organisations.get(principal.organisation)
        if known is None or not known.enabled:
            return "the token's organisation is unknown or disabled"
        if principal.issuer == self._issuer and principal.client_id in self._disabled_clients:
            return "the token's client is disabled"
        return None

    def invalidate(self) -> None:
        """Read organisations and clients afresh on the next request, as
        :data:`~hub.cached.CUT_OFF` seconds passing would."""
        self._organisations.invalidate()
        self._disabled_clients.invalidate()
