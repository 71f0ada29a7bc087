"""The refresh token grant, for people's logins only: rotation and reuse detection (RFC 6749 §6,
RFC 9700 §4.14.2).

Refresh tokens exist only for the authorization code grant (client credentials get none, as the
design says). Every refresh uses the presented token once and issues the next one of its family
(:mod:`auth.families`); a token presented after it was used is a theft or a replay either way,
so the whole family is revoked, with its live access tokens, and the refresh is refused
(``invalid_grant``). A family ends at the login's absolute lifetime, when the person is disabled
(or their organisation is), and when their password or factor is reset after it began.
"""

from __future__ import annotations

from typing import Any, Final

from authlib.oauth2.rfc6749 import grants

from auth import families
from auth.code_grant import Grantee, GrantServer
from auth.models import RefreshToken
from auth.server_config import CLIENT_SECRET_BASIC, IN_PROCESS, PRIVATE_KEY_JWT


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS: Final = [CLIENT_SECRET_BASIC, PRIVATE_KEY_JWT, IN_PROCESS]
    INCLUDE_NEW_REFRESH_TOKEN: Final = True
    server: GrantServer

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshToken | None:
        """The token's row, now used; ``None`` for an unknown, expired or revoked token, one of
        another client, or one whose person may no longer log in. A used token revokes its
        family."""
        if not 0 < len(refresh_token) <= families.MAX_PRESENTED_LENGTH:
            return None
        session, now = self.server.session, self.server.now()
        row = session.get(RefreshToken, families.hash_token(refresh_token))
        if row is None or row.client_id != self.request.client.get_client_id():
            return None
        grantee = self.server.people(row.user_id)
        if grantee is None or not grantee.may_redeem(families.as_utc(row.family_issued_at)):
            return None
        if families.claim(session, row, now=now):
            self.request.grantee = grantee
            return row
        if row.used_at is not None and row.revoked_at is None:
            families.revoke_family(session, row.family, now=now)
        return None

    def authenticate_user(self, refresh_token: RefreshToken) -> Grantee:
        grantee: Grantee = self.request.grantee
        return grantee

    def save_token(self, token: dict[str, Any]) -> None:
        """The family's next member, with the access token issued beside it."""
        previous: RefreshToken = self.request.refresh_token
        claims = families.issued_claims(str(token["access_token"]))
        families.add_member(
            self.server.session,
            refresh_token=str(token["refresh_token"]),
            family=previous.family,
            client_id=previous.client_id,
            user_id=previous.user_id,
            scope=str(token.get("scope", "")),
            family_issued_at=previous.family_issued_at,
            expires_at=previous.expires_at,
            access_jti=claims.jti,
            access_expires_at=claims.expires_at,
            now=self.server.now(),
        )

    def revoke_old_credential(self, refresh_token: RefreshToken) -> None:
        """Nothing left to do: the token was marked used when it was redeemed."""
