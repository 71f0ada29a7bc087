"""The web UI's foundation: rendering, languages, sessions, CSRF and the person of a page.

Server-rendered pages on the API's origin (the design's "Web UI"): Jinja2 templates with the NL
Design System's classes (``hub/ui/templates``), the hub's own and the vendored CSS under
``/static``, Dutch by default and English on request (:mod:`hub.ui.i18n`), HTML error pages for
browsers (:mod:`hub.ui.errors`), the session cookie (:mod:`hub.ui.sessions`), CSRF
(:mod:`hub.ui.csrf`) and the logged-in person (:mod:`hub.ui.person`). The feature folders that
serve pages (login, pages) build on these; decision 0024 records why they are as they are.
"""
