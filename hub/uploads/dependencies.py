"""The uploads API's dependencies: each route's service, built by :class:`Serving`, which checks
the scope ``documents:write`` and records a refusal as the route's action."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request

from audit.events import Action
from auth.scopes import Scope
from hub.core.errors import BadRequest, PreconditionFailed
from hub.documents.dependencies import documents_deps
from hub.runtime import Services
from hub.uploads.schemas import TUS_VERSION, tus_headers
from hub.uploads.service import UPLOAD, UploadsDeps, UploadsService
from hub.web.caller import Serving
from hub.web.recording import Call


def _uploads(call: Call, services: Services) -> UploadsService:
    deps = UploadsDeps(
        documents=documents_deps(services),
        engine=services.engine,
        expiry=timedelta(seconds=services.settings.upload_expiry),
    )
    return UploadsService(call, deps)


def tus_resumable(request: Request) -> None:
    """tus: every request but OPTIONS names the protocol version it speaks: 400 without one,
    412 (with ``Tus-Version``) for a version the hub does not speak. Called first thing in each
    handler, so the token, the scope and the path are checked before it (as for any route)."""
    version = request.headers.get("tus-resumable")
    if version is None:
        raise BadRequest(
            f"Tus-Resumable is required: send Tus-Resumable: {TUS_VERSION}",
            headers=tus_headers({"Tus-Version": TUS_VERSION}),
        )
    if version != TUS_VERSION:
        raise PreconditionFailed(
            f"this server speaks tus {TUS_VERSION}: send Tus-Resumable: {TUS_VERSION}",
            headers=tus_headers({"Tus-Version": TUS_VERSION}),
        )


def _serving(action: Action, *, id_param: str | None = "upload_id") -> Serving[UploadsService]:
    return Serving(
        _uploads,
        scope=Scope.DOCUMENTS_WRITE,
        action=action,
        resource_type=UPLOAD,
        id_param=id_param,
    )


Creator = Annotated[UploadsService, Depends(_serving(Action.UPLOAD_CREATE, id_param=None))]
Appender = Annotated[UploadsService, Depends(_serving(Action.UPLOAD_APPEND))]
Terminator = Annotated[UploadsService, Depends(_serving(Action.UPLOAD_TERMINATE))]
