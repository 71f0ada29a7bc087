"""``ketenhub client add|list|disable|enable``: the partner systems (OAuth clients).

Each change is recorded in the audit trail with the operator's login as the actor. ``list``
shows, per client, why it gets no tokens when it does not (``state``), and when it last got one.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from audit.events import Action
from auth.server_config import CLIENT_SECRET_BASIC
from hub.cli.console import (
    CommandError,
    command_services,
    load_settings,
    operator_recorder,
    print_table,
)
from hub.clients import service as clients
from hub.clients.service import ClientView
from hub.core import db
from hub.core.cached import BOUND
from hub.core.db import as_utc
from hub.trail.recorder import About


def cmd_add(args: argparse.Namespace) -> None:
    settings = load_settings()
    if args.with_secret and settings.is_production:
        raise CommandError(
            "--with-secret is refused in production: production accepts private_key_jwt only, "
            "so the secret could never be used",
            status=2,
        )
    jwks = None
    if args.jwks is not None:
        try:
            jwks = json.loads(Path(args.jwks).read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise CommandError(f"cannot read a JWK Set from {args.jwks}: {exc}", status=2) from None
    with command_services(settings) as services, db.transaction(services.engine) as session:
        new = clients.add_client(
            session,
            organisation=args.org,
            name=args.name,
            scopes=args.scopes,
            processing_activity=args.purpose,
            jwks=jwks,
            generate_key=args.generate_key,
            jwks_uri=args.jwks_uri,
            allow_http_jwks_uri=not settings.is_production,
            with_secret=args.with_secret,
            client_id=args.client_id,
        )
        operator_recorder(services).record(
            session,
            Action.CLIENT_ADD,
            About("client", new.client.client_id),
            organisation=new.client.organisation,
        )
    print(f"client_id     {new.client.client_id}")
    print(f"organisation  {new.client.organisation}")
    print(f"scopes        {new.client.scopes}")
    if new.client.jwks_uri is not None:
        print(f"jwks_uri      {new.client.jwks_uri}")
    if new.private_jwk is not None:
        print("private_jwk   (shown once; store it in the partner system, then forget it)")
        print(json.dumps(new.private_jwk))
    if new.client_secret is not None:
        print(f"client_secret {new.client_secret}  (shown once)")
        if not settings.allows_client_secret:
            print(
                "ketenhub: warning: this hub does not accept client_secret_basic now; the "
                "secret works only once KETENHUB_CLIENT_SECRET_AUTH is set to true",
                file=sys.stderr,
            )


def _when(moment: datetime | None) -> str | None:
    return None if moment is None else as_utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def _row(view: ClientView, *, secrets_accepted: bool) -> dict[str, Any]:
    client = view.client
    methods = [
        f"{method} (not accepted here)"
        if method == CLIENT_SECRET_BASIC and not secrets_accepted
        else method
        for method in clients.methods(client)
    ]
    return {
        "client_id": client.client_id,
        "name": client.name,
        "organisation": client.organisation,
        "scopes": client.scopes.split(),
        "purpose": client.processing_activity,
        "methods": methods,
        "jwks_uri": client.jwks_uri,
        "created": _when(client.created_at),
        "last_used": _when(client.last_used_at),
        "state": view.state,
    }


def cmd_list(args: argparse.Namespace) -> None:
    settings = load_settings()
    with command_services(settings) as services, db.transaction(services.engine) as session:
        views = clients.list_clients(session)
        rows = [_row(view, secrets_accepted=settings.allows_client_secret) for view in views]
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    print_table(
        ("CLIENT_ID", "ORG", "STATE", "SCOPES", "PURPOSE", "AUTH", "CREATED", "LAST USED", "NAME"),
        [
            (
                row["client_id"],
                row["organisation"],
                row["state"],
                " ".join(row["scopes"]),
                row["purpose"],
                ", ".join(row["methods"]) or "-",
                row["created"],
                row["last_used"] or "never",
                row["name"],
            )
            for row in rows
        ],
    )


def cmd_disable(args: argparse.Namespace) -> None:
    with command_services() as services, db.transaction(services.engine) as session:
        client = clients.disable_client(session, args.client_id)
        operator_recorder(services).record(
            session,
            Action.CLIENT_DISABLE,
            About("client", client.client_id),
            organisation=client.organisation,
        )
    print(
        f"disabled {client.client_id}: it gets no new tokens, and the tokens it holds stop "
        f"working within {BOUND:g} seconds"
    )


def cmd_enable(args: argparse.Namespace) -> None:
    with command_services() as services, db.transaction(services.engine) as session:
        client = clients.enable_client(session, args.client_id)
        operator_recorder(services).record(
            session,
            Action.CLIENT_ENABLE,
            About("client", client.client_id),
            organisation=client.organisation,
        )
    print(
        f"enabled {client.client_id}: it can get tokens again (those issued before it was "
        "disabled stay ended)"
    )


def add_parser(commands: Any) -> None:
    client = commands.add_parser("client", help="manage OAuth clients (partner systems)")
    actions = client.add_subparsers(dest="client_command", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="register a partner system")
    add.add_argument("--org", required=True, help="organisation code, e.g. IOM")
    add.add_argument("--name", required=True)
    add.add_argument(
        "--scopes",
        required=True,
        help='space-separated, e.g. "documents:write"; audit:read and admin never with a '
        "document or share scope, metrics:read alone",
    )
    add.add_argument("--purpose", default="terugkeer", help="processing activity code")
    add.add_argument("--client-id", help="default: <org>-<random>")
    keys_source = add.add_mutually_exclusive_group(required=True)
    keys_source.add_argument("--jwks", metavar="FILE", help="the client's public JWK Set")
    keys_source.add_argument("--generate-key", action="store_true", help="generate an ES256 pair")
    keys_source.add_argument(
        "--jwks-uri",
        metavar="URL",
        help="where the client publishes its public JWK Set, fetched by the hub (the partner "
        "rotates its own keys); https only outside demo and development",
    )
    add.add_argument(
        "--with-secret",
        action="store_true",
        help="also issue a client secret (not in production, which accepts private_key_jwt only)",
    )
    add.set_defaults(func=cmd_add)
    listing = actions.add_parser("list", help="list clients, their state and last use")
    listing.add_argument("--json", action="store_true", help="print one JSON document")
    listing.set_defaults(func=cmd_list)
    disable = actions.add_parser("disable", help="stop a client getting and using tokens")
    disable.add_argument("client_id")
    disable.set_defaults(func=cmd_disable)
    enable = actions.add_parser("enable", help="let a disabled client get tokens again")
    enable.add_argument("client_id")
    enable.set_defaults(func=cmd_enable)


__all__ = ["add_parser"]
