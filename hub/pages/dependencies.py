"""The pages' services, each built for the person of the page request by one
:class:`hub.ui.person.PageServing` (the session's principal, the route's scope, a refusal for
want of it recorded as the route's action), and the CSRF check of their forms."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from audit.events import Action
from auth.scopes import Scope
from hub.documents.dependencies import documents_deps
from hub.documents.uploads import UploadService
from hub.pages.viewing import DocumentPages
from hub.runtime import Services
from hub.shares.service import SharesDeps, ShareService
from hub.ui import csrf
from hub.ui.person import PagePerson, PageServing
from hub.web.recording import Call


def _documents(call: Call, services: Services) -> DocumentPages:
    return DocumentPages(call, documents_deps(services))


def _uploads(call: Call, services: Services) -> UploadService:
    return UploadService(call, documents_deps(services))


def _share_service(call: Call, services: Services) -> ShareService:
    return ShareService(
        call,
        SharesDeps(
            policy=services.policy, directory=services.organisations, protector=services.protector
        ),
    )


@dataclass(frozen=True, slots=True)
class SharePages:
    """The share pages' services: shares, and the document a form shares, read for the form;
    one request's transaction, caller and recorder."""

    shares: ShareService
    documents: DocumentPages


def _shares(call: Call, services: Services) -> SharePages:
    return SharePages(_share_service(call, services), _documents(call, services))


_DOCUMENT, _SHARE, _ID = "document", "share", "document_id"
_READ, _WRITE = Scope.DOCUMENTS_READ, Scope.DOCUMENTS_WRITE


def _page(
    build: Callable[[Call, Services], object],
    scope: Scope,
    action: Action,
    *,
    resource_type: str = _DOCUMENT,
    id_param: str | None = None,
) -> Any:
    """The dependency of a page that needs ``scope``; a refusal is recorded as ``action``."""
    return Depends(
        PageServing(
            build, scope=scope, action=action, resource_type=resource_type, id_param=id_param
        )
    )


DocumentLister = Annotated[DocumentPages, _page(_documents, _READ, Action.DOCUMENT_LIST)]
DocumentSearcher = Annotated[DocumentPages, _page(_documents, _READ, Action.DOCUMENT_SEARCH)]
DocumentReader = Annotated[
    DocumentPages, _page(_documents, _READ, Action.DOCUMENT_READ, id_param=_ID)
]
DocumentDownloader = Annotated[
    DocumentPages, _page(_documents, _READ, Action.DOCUMENT_DOWNLOAD, id_param=_ID)
]
PageUploader = Annotated[UploadService, _page(_uploads, _WRITE, Action.DOCUMENT_UPLOAD)]
ShareLister = Annotated[SharePages, _page(_shares, _READ, Action.SHARE_LIST, resource_type=_SHARE)]
ShareGranter = Annotated[
    SharePages, _page(_shares, Scope.SHARES_WRITE, Action.SHARE_CREATE, resource_type=_SHARE)
]
ShareRevoker = Annotated[
    SharePages,
    _page(
        _shares,
        Scope.SHARES_WRITE,
        Action.SHARE_REVOKE,
        resource_type=_SHARE,
        id_param="share_id",
    ),
]


def check_form(request: Request, person: PagePerson, fields: Mapping[str, object]) -> None:
    """Refuse (403, :class:`hub.ui.csrf.CsrfRefused`) a page form that did not come from the
    hub's own page of this session: the browser's Origin and Sec-Fetch-Site, then the form's
    ``csrf_token``, which must be its first field."""
    settings = request.app.state.services.settings
    csrf.check_origin(request, issuer=settings.issuer)
    first = next(iter(fields), None)
    submitted = fields.get(csrf.FIELD)
    if first != csrf.FIELD or not isinstance(submitted, str):
        raise csrf.CsrfRefused("the form's first field must be its csrf_token")
    person.check_csrf(submitted)
