"""Who is calling, and with which scopes: the hub's OAuth 2.0 authorization server.

Built on authlib's framework-neutral core (clients, grants, token signing keys, JWKS, token
validation and scope dependencies for the API) by the OAuth issue; until then the package is
empty and the API has no protected endpoint.
"""
