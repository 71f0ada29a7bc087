"""People's accounts: passwords, the second factor, throttling, and their administration.

:class:`~hub.accounts.service.Accounts` is what the login flow and the ``ketenhub user`` commands
call; the mechanisms it uses (argon2id, RFC 6238) are in :mod:`auth.passwords` and
:mod:`auth.totp`. Decision 0022 says why each choice was made.
"""
