"""The documents API's dependencies: each route's service, built by one :class:`Serving` that
checks the route's scope and records a refusal as the route's action."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from audit.events import Action
from auth.scopes import Scope
from hub.auditing.subjects import AuditedMetadata, audited_metadata
from hub.documents.downloads import DownloadService
from hub.documents.service import DocumentsDeps, DocumentService
from hub.documents.uploads import UploadService
from hub.runtime import Services
from hub.web.caller import Serving, ServingEither
from hub.web.recording import Call


def documents_deps(services: Services) -> DocumentsDeps:
    return DocumentsDeps(
        policy=services.policy,
        vault=services.vault,
        protector=services.protector,
    )


def _documents(call: Call, services: Services) -> DocumentService:
    return DocumentService(call, documents_deps(services))


def _uploads(call: Call, services: Services) -> UploadService:
    return UploadService(call, documents_deps(services))


def _downloads(call: Call, services: Services) -> DownloadService:
    return DownloadService(call, documents_deps(services))


_ID = "document_id"
_DOCUMENT = "document"
_WRITE, _READ = Scope.DOCUMENTS_WRITE, Scope.DOCUMENTS_READ
Uploader = Annotated[
    UploadService,
    Depends(
        Serving(_uploads, scope=_WRITE, action=Action.DOCUMENT_UPLOAD, resource_type=_DOCUMENT)
    ),
]
Deleter = Annotated[
    DocumentService,
    Depends(
        Serving(
            _documents,
            scope=_WRITE,
            action=Action.DOCUMENT_DELETE,
            resource_type=_DOCUMENT,
            id_param=_ID,
        )
    ),
]
Lister = Annotated[
    DocumentService,
    Depends(Serving(_documents, scope=_READ, action=Action.DOCUMENT_LIST, resource_type=_DOCUMENT)),
]
Searcher = Annotated[
    DocumentService,
    Depends(
        Serving(_documents, scope=_READ, action=Action.DOCUMENT_SEARCH, resource_type=_DOCUMENT)
    ),
]
Reader = Annotated[
    DownloadService,
    Depends(
        Serving(
            _downloads,
            scope=_READ,
            action=Action.DOCUMENT_READ,
            resource_type=_DOCUMENT,
            id_param=_ID,
        )
    ),
]
Downloader = Annotated[
    DownloadService,
    Depends(
        Serving(
            _downloads,
            scope=_READ,
            action=Action.DOCUMENT_DOWNLOAD,
            resource_type=_DOCUMENT,
            id_param=_ID,
        )
    ),
]
MetadataReader = Annotated[
    DownloadService | AuditedMetadata,
    Depends(
        ServingEither(
            Serving(
                _downloads,
                scope=_READ,
                action=Action.DOCUMENT_READ,
                resource_type=_DOCUMENT,
                id_param=_ID,
            ),
            Serving(
                audited_metadata,
                scope=Scope.AUDIT_READ,
                action=Action.AUDIT_QUERY,
                resource_type=_DOCUMENT,
                id_param=_ID,
            ),
        )
    ),
]
"""A document's metadata: for ``documents:read`` as the policy lets the caller see it, for
``audit:read`` (an auditor) as :class:`AuditedMetadata` shows any document."""
