"""What each ``ketenhub-client`` command does (the parser is :mod:`.cli`).

Each function takes the parsed arguments and an :class:`~.output.Output`, returns the exit
code, and lets :mod:`.errors` exceptions rise to :func:`.cli.main`, which maps them to theirs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from ketenhub_client.config import (
    DEFAULT_PROFILE,
    Settings,
    check_hub_url,
    check_key_file,
    load_settings,
    read_profiles,
    state_dir,
    write_profile,
)
from ketenhub_client.credentials import ClientKey
from ketenhub_client.errors import EXIT_OK, EXIT_VERIFICATION, ConfigError, VerificationFailed
from ketenhub_client.hub import Hub
from ketenhub_client.models import Document, Page, Receipt
from ketenhub_client.output import Output, size_text
from ketenhub_client.receipt_command import receipt_verify as verify_text
from ketenhub_client.receipt_command import results_document, show_results, verify_receipts
from ketenhub_client.receipts import Receipt as Evidence
from ketenhub_client.receipts import ReceiptVerification

# -- set-up ------------------------------------------------------------------------------------


def _hub(arguments: argparse.Namespace) -> Hub:
    return Hub.from_settings(load_settings(arguments.profile))


def _ask(prompt: str, given: str | None, current: str | None) -> str:
    if given:
        return given
    if sys.stdin.isatty():
        suffix = f" [{current}]" if current else ""
        answer = input(f"{prompt}{suffix}: ").strip()
        if answer or current:
            return answer or str(current)
    if current:
        return current
    raise ConfigError(f"{prompt.lower()} missing: give it as an option")


def configure(arguments: argparse.Namespace, output: Output) -> int:
    """Write (or update) a profile, after checking the key file and, unless ``--no-check``,
    that the hub gives this client a token."""
    name = arguments.profile or DEFAULT_PROFILE
    current = read_profiles().get(name, {})
    hub = check_hub_url(_ask("Hub URL", arguments.hub, current.get("hub")))
    client_id = _ask("Client id", arguments.client_id, current.get("client_id"))
    key_text = _ask(
        "Private key file",
        str(arguments.key_file) if arguments.key_file else None,
        current.get("key_file"),
    )
    key_file = check_key_file(Path(key_text).expanduser().absolute())
    key = ClientKey.from_file(key_file)
    settings = Settings(hub=hub, client_id=client_id, key_file=key_file)
    if arguments.check:
        with Hub(hub, client_id, key) as connected:
            connected.session.tokens.get()
    path = write_profile(name, settings)
    data = {
        "profile": name,
        "hub": hub,
        "client_id": client_id,
        "key_file": str(key_file),
        "algorithm": key.algorithm,
        "checked": bool(arguments.check),
        "config_file": str(path),
    }
    output.result(
        data,
        lambda out: out.print(
            f"Profile {name!r} written to {path}: {client_id} at {hub} "
            f"({key.algorithm} key{', token fetched' if arguments.check else ''})"
        ),
    )
    return EXIT_OK


# -- documents ---------------------------------------------------------------------------------


def upload(arguments: argparse.Namespace, output: Output) -> int:
    from ketenhub_client.cli import read_v_number  # noqa: PLC0415 - one module each way

    path: Path = arguments.file
    if not path.is_file():
        raise ConfigError(f"{path} is not a file")
    v_number = read_v_number(arguments.v_number_file)
    with _hub(arguments) as hub:
        with output.progress(f"upload {path.name}") as progress:
            done = hub.upload(
                path,
                document_type=arguments.document_type,
                v_number=v_number,
                title=arguments.title,
                progress=progress,
                resume_from=state_dir() / "uploads",
            )
        data: dict[str, Any] = done.as_json()
        data.pop("v_number", None)  # personal data: the caller knows it, stdout need not repeat it
        _write_receipts(arguments.receipt_file, data)
        results = _verify(hub, [done.receipt], path, data, enabled=arguments.verify)

    def human(out: Console) -> None:
        _show_upload(out, path, data)
        show_results(out, results)

    output.result(data, human)
    return _exit_code(data)


def _verify(
    hub: Hub, receipts: list[Receipt], path: Path, data: dict[str, Any], *, enabled: bool
) -> list[ReceiptVerification]:
    """Verify ``receipts`` (and ``path`` against their events) as a witness, unless disabled;
    the findings also go into ``data["verification"]`` (``{"ok", "receipts"}``)."""
    if not enabled:
        return []
    if not receipts:
        data["verification"] = {"ok": False, "receipts": [], "error": "the hub sent no receipt"}
        return []
    results = verify_receipts(
        hub, [Evidence(r.seq, r.leaf_hash, r.note) for r in receipts], file=path
    )
    ok = len(results) == len(receipts) and all(result.ok for result in results)
    data["verification"] = results_document(results, ok=ok)
    return results


def _exit_code(data: dict[str, Any]) -> int:
    verification = data.get("verification")
    if verification is None or verification["ok"]:
        return EXIT_OK
    if verification.get("error"):
        raise VerificationFailed(verification["error"])
    return EXIT_VERIFICATION


def _show_upload(out: Console, path: Path, data: dict[str, Any]) -> None:
    out.print(f"Uploaded {path.name} as document {data['id']}")
    out.print(f"  type {data.get('document_type', '?')}, {size_text(data['size'])}")
    out.print(f"  SHA-256 {data['sha256']}")
    _show_receipt(out, Receipt.from_json(data["receipt"]))


def _show_receipt(out: Console, receipt: Receipt) -> None:
    out.print(f"Receipt: audit event {receipt.seq}, leaf hash {receipt.leaf_hash}")
    out.print(receipt.note.rstrip("\n"), markup=False, highlight=False)


def _write_receipts(target: Path | None, data: dict[str, Any]) -> None:
    if target is not None:
        target.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def download(arguments: argparse.Namespace, output: Output) -> int:
    target: Path = arguments.output
    if target.exists() and not arguments.force:
        raise ConfigError(f"{target} exists; give --force to replace it")
    with _hub(arguments) as hub:
        with output.progress(f"download {target.name}") as progress:
            done = hub.download(arguments.document_id, target, progress=progress)
        data = done.as_json()
        _write_receipts(arguments.receipt_file, data)
        results = _verify(hub, done.receipts, target, data, enabled=arguments.verify)

    def human(out: Console) -> None:
        resumed = " (resumed)" if done.resumed else ""
        out.print(f"Downloaded {done.document_id} to {done.path}{resumed}")
        out.print(f"  {size_text(done.size)}, SHA-256 {done.sha256} (matches Repr-Digest)")
        for receipt in done.receipts:
            _show_receipt(out, receipt)
        show_results(out, results)

    output.result(data, human)
    return _exit_code(data)


def _documents(page: Page[Document], out: Output, title: str) -> None:
    out.table(
        ("id", "type", "size", "uploader", "created", "title"),
        [
            (d.id, d.document_type, size_text(d.size), d.uploader, d.created_at, d.title)
            for d in page.items
        ],
        title=title,
    )
    if page.next_cursor:
        out.message(f"more: --cursor {page.next_cursor}")


def _pages(first: Page[Any], fetch: Any, *, every: bool) -> Page[Any]:
    """``first``, or with ``--all`` every page joined into one."""
    if not every:
        return first
    items = list(first.items)
    cursor = first.next_cursor
    while cursor:
        page = fetch(cursor)
        items.extend(page.items)
        cursor = page.next_cursor
    return Page(items, None)


def _page_json(page: Page[Any]) -> dict[str, Any]:
    return {"items": [item.raw for item in page.items], "next_cursor": page.next_cursor}


def list_documents(arguments: argparse.Namespace, output: Output) -> int:
    with _hub(arguments) as hub:

        def fetch(cursor: str | None) -> Page[Document]:
            return hub.documents(
                limit=arguments.limit, cursor=cursor, document_type=arguments.document_type
            )

        page = _pages(fetch(arguments.cursor), fetch, every=arguments.all)
    output.result(_page_json(page), lambda _: _documents(page, output, "Documents"))
    return EXIT_OK


def search(arguments: argparse.Namespace, output: Output) -> int:
    from ketenhub_client.cli import read_v_number  # noqa: PLC0415 - one module each way

    v_number = read_v_number(arguments.v_number_file)
    with _hub(arguments) as hub:

        def fetch(cursor: str | None) -> Page[Document]:
            return hub.search(
                v_number,
                document_type=arguments.document_type,
                limit=arguments.limit,
                cursor=cursor,
            )

        page = _pages(fetch(arguments.cursor), fetch, every=arguments.all)
    output.result(_page_json(page), lambda _: _documents(page, output, "Documents of the case"))
    return EXIT_OK


# -- shares ------------------------------------------------------------------------------------


def share(arguments: argparse.Namespace, output: Output) -> int:
    from ketenhub_client.cli import expiry, read_v_number  # noqa: PLC0415

    until = expiry(arguments.until, arguments.days)
    with _hub(arguments) as hub:
        if arguments.case:
            types = [t.strip() for t in (arguments.types or "").split(",") if t.strip()]
            if not types:
                raise ConfigError("a case share needs --types TYPE[,TYPE…]")
            made = hub.share_case(
                read_v_number(arguments.v_number_file),
                document_types=types,
                grantee=arguments.grantee,
                purpose=arguments.purpose,
                expires_at=until,
            )
        else:
            if arguments.types or arguments.v_number_file:
                raise ConfigError("--types and --v-number-file belong to --case")
            made = hub.share_document(
                arguments.document_id,
                grantee=arguments.grantee,
                purpose=arguments.purpose,
                expires_at=until,
            )
    output.result(
        made.raw,
        lambda out: out.print(
            f"Shared with {made.grantee} until {made.expires_at} (purpose {made.purpose}): "
            f"share {made.id}"
        ),
    )
    return EXIT_OK


def revoke(arguments: argparse.Namespace, output: Output) -> int:
    with _hub(arguments) as hub:
        hub.revoke(arguments.share_id)
    output.result(
        {"id": arguments.share_id, "revoked": True},
        lambda out: out.print(f"Share {arguments.share_id} revoked"),
    )
    return EXIT_OK


def shares(arguments: argparse.Namespace, output: Output) -> int:
    with _hub(arguments) as hub:

        def fetch(cursor: str | None) -> Any:
            return hub.shares(limit=arguments.limit, cursor=cursor)

        page = _pages(fetch(arguments.cursor), fetch, every=arguments.all)

    def human(_: Console) -> None:
        output.table(
            ("id", "grantor", "grantee", "what", "purpose", "until", "state"),
            [
                (
                    s.id,
                    s.grantor,
                    s.grantee,
                    s.document_id or f"case: {', '.join(s.document_types or [])}",
                    s.purpose,
                    s.expires_at,
                    s.state,
                )
                for s in page.items
            ],
            title="Shares",
        )

    output.result(_page_json(page), human)
    return EXIT_OK


# -- what became visible, and webhooks ---------------------------------------------------------


def inbox(arguments: argparse.Namespace, output: Output) -> int:
    with _hub(arguments) as hub:
        page = hub.inbox(cursor=arguments.cursor, limit=arguments.limit)

    def human(_: Console) -> None:
        output.table(
            ("at", "kind", "from", "purpose", "documents"),
            [(i.at, i.kind, i.grantor, i.purpose, " ".join(i.document_ids)) for i in page.items],
            title="Inbox",
        )
        if page.next_cursor:
            output.message(f"next time: --cursor {page.next_cursor}")

    output.result(_page_json(page), human)
    return EXIT_OK


def webhooks_add(arguments: argparse.Namespace, output: Output) -> int:
    with _hub(arguments) as hub:
        made = hub.add_webhook(arguments.url, events=arguments.events)

    def human(out: Console) -> None:
        out.print(f"Subscribed {made.url} ({', '.join(made.events) or 'all events'}): {made.id}")
        if made.secret:
            out.print(
                f"Signing secret (shown once; keep it where the receiver can read it): "
                f"{made.secret}",
                markup=False,
            )

    output.result(made.raw, human)
    return EXIT_OK


def webhooks_list(arguments: argparse.Namespace, output: Output) -> int:
    with _hub(arguments) as hub:
        found = hub.webhooks()
    output.result(
        {"items": [w.raw for w in found]},
        lambda _: output.table(
            ("id", "url", "events", "created"),
            [(w.id, w.url, ", ".join(w.events), w.created_at) for w in found],
            title="Webhooks",
        ),
    )
    return EXIT_OK


def webhooks_remove(arguments: argparse.Namespace, output: Output) -> int:
    with _hub(arguments) as hub:
        hub.remove_webhook(arguments.webhook_id)
    output.result(
        {"id": arguments.webhook_id, "removed": True},
        lambda out: out.print(f"Webhook {arguments.webhook_id} removed"),
    )
    return EXIT_OK


def webhooks_deliveries(arguments: argparse.Namespace, output: Output) -> int:
    with _hub(arguments) as hub:
        page = hub.deliveries(arguments.webhook_id, limit=arguments.limit, cursor=arguments.cursor)
    columns = ("attempted_at", "type", "attempt", "status_code", "error", "message_id")

    def human(_: Console) -> None:
        output.table(
            columns, [[d.raw.get(c) for c in columns] for d in page.items], title="Deliveries"
        )
        if page.next_cursor:
            output.message(f"older: --cursor {page.next_cursor}")

    output.result(_page_json(page), human)
    return EXIT_OK


# -- receipts ----------------------------------------------------------------------------------


def receipt_verify(arguments: argparse.Namespace, output: Output) -> int:
    """``receipt verify [FILE|-] [--file CONTENT] [--accept-new-key]``
    (:mod:`.receipt_command` does the work)."""
    source: str = arguments.source
    text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    with _hub(arguments) as hub:
        return verify_text(
            hub,
            text,
            output=output,
            content=arguments.content,
            accept_new_key=arguments.accept_new_key,
        )
