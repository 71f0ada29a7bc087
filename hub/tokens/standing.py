"""Whether a validly signed token may still act: the hub's answer to
:data:`auth.tokens.Standing`, asked on every API request.

A token may act while

- its scopes keep the duties apart (:func:`auth.scopes.check_separation`). The token endpoint
  issues no other kind; this also refuses one issued before the rule, and a trusted issuer's
  token that combines them;
- its organisation is known and enabled, whoever issued it, and was not disabled after the
  token was issued;
- for a token the hub issued, its client is enabled and was not disabled after the token was
  issued. (A trusted issuer's clients are not the hub's to know.)
- for a person's token, the person is enabled, and was neither disabled nor had their password
  or factor reset (``tokens_valid_after``) after the token was issued
  (:class:`hub.tokens.people.EndedPeople`).

Disabling ends tokens rather than suspending them: a client or organisation enabled again gets
new tokens, and the ones it held before stay refused. A token is placed in time by its ``iat``
(whole seconds, from the clock of the replica that issued it: replicas keep their clocks in
step, as ``exp`` already needs). A trusted issuer's token without ``iat`` (RFC 9068 requires
one) cannot be placed, so it is refused once its organisation has ever been disabled.

The answers come from the cached views in :mod:`hub.directory.organisations`,
:mod:`hub.directory.clients` and :mod:`hub.tokens.people`, so a disabled organisation, client or
person is refused on every replica within :data:`~hub.core.cached.CUT_OFF` seconds. The refusal
is a 401 ``invalid_token`` like a revoked token's, and, like it, is not recorded: the token no
longer authenticates anyone.
"""

from __future__ import annotations

from datetime import datetime

from auth.scopes import check_separation
from auth.tokens import Principal
from hub.directory.clients import DisabledClients, Ended
from hub.directory.organisations import OrganisationDirectory
from hub.tokens.people import EndedPeople


def _issued_before(principal: Principal, moment: datetime | None) -> bool:
    if moment is None:
        return False
    return principal.issued_at is None or principal.issued_at <= moment


def _ended_refusal(principal: Principal, ended: Ended | None, whose: str, when: str) -> str | None:
    """Why a client's or person's ``ended`` tokens include this one, or ``None``."""
    if ended is None:
        return None
    if not ended.enabled:
        return f"the token's {whose} is disabled"
    if _issued_before(principal, ended.disabled_at):
        return f"the token was issued before its {whose} {when}"
    return None


class Standing:
    """``standing(principal)``: why the token may not act, or ``None``."""

    def __init__(
        self,
        *,
        issuer: str,
        organisations: OrganisationDirectory,
        disabled_clients: DisabledClients,
        ended_people: EndedPeople,
    ) -> None:
        self._issuer = issuer
        self._organisations = organisations
        self._disabled_clients = disabled_clients
        self._ended_people = ended_people

    def __call__(self, principal: Principal) -> str | None:
        try:
            check_separation(principal.scopes)
        except ValueError as exc:
            return f"the token's scopes are refused: {exc}"
        return (
            self._organisation_refusal(principal)
            or self._client_refusal(principal)
            or self._person_refusal(principal)
        )

    def _organisation_refusal(self, principal: Principal) -> str | None:
        known = self._organisations.get(principal.organisation)
        if known is None or not known.enabled:
            return "the token's organisation is unknown or disabled"
        if _issued_before(principal, known.disabled_at):
            return "the token was issued before its organisation was last disabled"
        return None

    def _client_refusal(self, principal: Principal) -> str | None:
        if principal.issuer != self._issuer:
            return None
        ended = self._disabled_clients.get(principal.client_id)
        return _ended_refusal(principal, ended, "client", "was last disabled")

    def _person_refusal(self, principal: Principal) -> str | None:
        if principal.user_id is None or principal.issuer != self._issuer:
            return None
        ended = self._ended_people.get(principal.user_id)
        return _ended_refusal(principal, ended, "person", "was disabled or reset")

    def invalidate(self) -> None:
        """Read organisations, clients and people afresh on the next request, as
        :data:`~hub.core.cached.CUT_OFF` seconds passing would."""
        self._organisations.invalidate()
        self._disabled_clients.invalidate()
        self._ended_people.invalidate()
