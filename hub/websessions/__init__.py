"""The web UI's sessions, server side: :class:`~hub.websessions.store.WebSessions`.

An engine (beside the key and trail engines), so the runtime can build it for every replica;
the cookie and the request side are :mod:`hub.ui.sessions`.
"""
