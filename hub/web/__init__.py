"""The request wiring every feature's routes share: the request's transaction
(:mod:`hub.web.deps`), the one dependency that admits a caller and builds its service
(:class:`~hub.web.caller.Serving`), the recording base of request services
(:mod:`hub.web.recording`), paging, problem documents and error handlers, conditional
requests, ``405`` answers, trusted proxies, static assets and the API types more than one
feature takes."""
