"""The web UI's login: the backend-for-frontend (``/login``, ``/login/callback``, ``/logout``),
the authorization server's login pages (``/oauth/authorize``) and the account care pages
(``/account``). The protocol lives in :mod:`auth`; passwords and factors in :mod:`hub.accounts`;
sessions, CSRF and rendering in :mod:`hub.ui`."""
