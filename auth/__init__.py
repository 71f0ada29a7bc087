"""Who is calling, and with which scopes: the hub's OAuth 2.0 authorization server.

Built on authlib's framework-neutral core:

- :mod:`auth.server`: the authorization server, assembled from :mod:`auth.server_config` (the
  deployment and its RFC 8414 metadata), :mod:`auth.client_auth` (clients and
  ``private_key_jwt``), :mod:`auth.grants` (``client_credentials`` and the access tokens every
  grant issues), :mod:`auth.code_grant` (people: the authorization code grant with PKCE, and
  the authorization endpoint's protocol), :mod:`auth.refresh_grant` and :mod:`auth.families`
  (people's refresh tokens, rotated, a reuse ending the login) and :mod:`auth.token_endpoints`
  (introspection and revocation);
- :mod:`auth.people`: people's roles and the scopes they give;
- :mod:`auth.signing`: token signing keys and the JWKS;
- :mod:`auth.tokens`: token validation; :mod:`auth.dependencies`: the scope dependencies that
  protect the API; :mod:`auth.scopes`: the scopes and their separation of duties;
- :mod:`auth.models`: the tables.
"""
