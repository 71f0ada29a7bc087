"""The pages' services, each built for the person of the page request by one
:class:`hub.ui.person.PageServing` (the session's principal, the route's scope, a refusal for
want of it recorded as the route's action), and the CSRF check of their forms."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated

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

DocumentLister = Annotated[
    DocumentPages,
    Depends(
        PageServing(_documents, scope=_READ, action=Action.DOCUMENT_LIST, resource_type=_DOCUMENT)
    ),
]
DocumentSearcher = Annotated[
    DocumentPages,
    Depends(
        PageServing(_documents, scope=_READ, action=Action.DOCUMENT_SEARCH, resource_type=_DOCUMENT)
    ),
]
DocumentReader = Annotated[
    DocumentPages,
    Depends(
        PageServing(
            _documents,
            scope=_READ,
            action=Action.DOCUMENT_READ,
            resource_type=_DOCUMENT,
            id_param=_ID,
        )
    ),
]
DocumentDownloader = Annotated[
    DocumentPages,
    Depends(
        PageServing(
            _documents,
            scope=_READ,
            action=Action.DOCUMENT_DOWNLOAD,
            resource_type=_DOCUMENT,
            id_param=_ID,
        )
    ),
]
PageUploader = Annotated[
    UploadService,
    Depends(
        PageServing(_uploads, scope=_WRITE, action=Action.DOCUMENT_UPLOAD, resource_type=_DOCUMENT)
    ),
]
ShareLister = Annotated[
    SharePages,
    Depends(PageServing(_shares, scope=_READ, action=Action.SHARE_LIST, resource_type=_SHARE)),
]
ShareGranter = Annotated[
    SharePages,
    Depends(
        PageServing(
            _shares, scope=Scope.SHARES_WRITE, action=Action.SHARE_CREATE, resource_type=_SHARE
        )
    ),
]
ShareRevoker = Annotated[
    SharePages,
    Depends(
        PageServing(
            _shares,
            scope=Scope.SHARES_WRITE,
            action=Action.SHARE_REVOKE,
            resource_type=_SHARE,
            id_param="share_id",
        )
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
