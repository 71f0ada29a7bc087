"""A login that cannot go on, as a page: the one way the login's routes say so.

The page names what happened in the person's language and, where starting again helps, links
to ``/login``. The CSRF token of the browser's session (when there is one) is given to the page,
so the header's forms (the language switch) keep working on it.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse

from hub.ui.rendering import render, show_csrf_token
from hub.ui.sessions import WebSession


def problem_page(
    request: Request,
    web: WebSession | None,
    *,
    title: str,
    explanation: str,
    status_code: int = 400,
    restart: bool = True,
) -> HTMLResponse:
    if web is not None:
        show_csrf_token(request, web.csrf_token)
    return render(
        request,
        "login/problem.html",
        {"title": title, "explanation": explanation, "restart": restart},
        status_code=status_code,
    )
