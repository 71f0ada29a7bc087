"""The path a user takes: a clean clone, `pip install .` without extras, and the README.

CI installs the development extras, which once hid a runtime dependency that only the test
extras declared: the README's first command failed on a fresh machine while every test passed.
These tests take the user's path instead, from a copy of what a clone of this commit holds:

- a fresh virtual environment with a plain, non-editable ``pip install .`` (no extras) imports
  every module and runs ``ketenhub init --demo`` and ``ketenhub serve`` to a ready ``/readyz``,
  both saying where to log in; the served hub carries its templates, catalogs and browser files
  (the password page in Dutch, the vendored and the hub's own CSS, JS and icon), and a demo
  person logs in as a browser does (password, TOTP code, the code grant's callback) and sees
  the Dutch home page and the documents list;
- ``./scripts/demo`` and ``./scripts/walkthrough`` (the README's quick start and story, which the
  README shows verbatim) run from the clone as written; ``./scripts/demo --port P`` is logged in
  to at that port without further settings, with the code ``./scripts/demo-login`` prints;
- every link in the README and ``docs/`` resolves inside the repository.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import venv
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import pyotp
import pytest

from tests.fixtures.processes import free_port, http_ready, running
from tests.fixtures.secrets import record_command, register_secret

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("hub", "storage", "auth", "audit")
WALKTHROUGH_START = "<!-- walkthrough: scripts/walkthrough, verbatim (tests/test_user_path.py) -->"
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def user_environment(**extra: str) -> dict[str, str]:
    """The environment of a user's shell: no hub settings, no virtual environment active."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("KETENHUB_", "PYTHON")) and k != "VIRTUAL_ENV"
    }
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if ".venv" not in p
    )
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def clean_clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What ``git clone`` of this work tree's next commit holds: tracked files and new files
    that are not ignored, and nothing else (no .venv, no var/, no caches)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    clone = tmp_path_factory.mktemp("clone") / "ketenhub"
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if not source.is_file():  # deleted in the work tree but not yet in the index
            continue
        target = clone / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    return clone


@pytest.fixture(scope="module")
def installed(clean_clone: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with ``pip install <clone>``: no extras, not editable."""
    target = tmp_path_factory.mktemp("venv") / "env"
    venv.EnvBuilder(with_pip=True).create(target)
    python = target / "bin" / "python"
    result = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "."],
        cwd=clean_clone,
        env=user_environment(),
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    assert result.returncode == 0, f"pip install . failed:\n{result.stdout}\n{result.stderr}"
    return target


def test_every_module_imports_after_a_plain_install(installed: Path, tmp_path: Path) -> None:
    # Run from an empty directory, so nothing but the installed distribution can be imported.
    script = (
        "import importlib, pkgutil, sys\n"
        f"for name in {PACKAGES!r}:\n"
        "    package = importlib.import_module(name)\n"
        "    assert 'site-packages' in package.__file__, package.__file__\n"
        "    for module in pkgutil.walk_packages(package.__path__, name + '.'):\n"
        "        importlib.import_module(module.name)\n"
        "        print(module.name)\n"
    )
    result = subprocess.run(
        [str(installed / "bin" / "python"), "-c", script],
        cwd=tmp_path,
        env=user_environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    imported = set(result.stdout.split())
    for expected in ("hub.app", "hub.cli", "auth.tokens", "audit.verify", "storage.envelope"):
        assert expected in imported


@dataclass(frozen=True, slots=True)
class InstalledHub:
    """The installed ``ketenhub``, initialised with the demo data and serving."""

    url: str
    data_dir: Path
    init_output: str
    log: Path

    def users(self) -> dict[str, dict[str, str]]:
        document = json.loads((self.data_dir / "demo-credentials.json").read_text("utf-8"))
        return {user["username"]: user for user in document["users"]}


@pytest.fixture(scope="module")
def installed_hub(
    installed: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[InstalledHub]:
    """``ketenhub init --demo`` and ``ketenhub serve`` of the plain install: one process for
    every test of the installed hub."""
    ketenhub = str(installed / "bin" / "ketenhub")
    home = tmp_path_factory.mktemp("installed-hub")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = user_environment(
        KETENHUB_ENVIRONMENT="demo", KETENHUB_DATA_DIR=str(home / "var"), KETENHUB_ISSUER=url
    )
    init = subprocess.run(
        [ketenhub, "init", "--demo"],
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    record_command(["init", "--demo"], env, stdout=init.stdout, stderr=init.stderr)
    assert init.returncode == 0, init.stderr
    log = home / "serve.log"
    try:
        with running(
            [ketenhub, "serve", "--port", str(port)],
            env=env,
            cwd=home,
            log=log,
            ready=http_ready(f"{url}/readyz"),
        ):
            yield InstalledHub(url, home / "var", init.stdout, log)
    finally:
        record_command(["serve"], env, stdout=log.read_text(errors="replace"), stderr="")


def test_the_installed_command_initialises_and_serves(installed_hub: InstalledHub) -> None:
    url = installed_hub.url
    assert (installed_hub.data_dir / "policy.yaml").is_file()  # package data came along
    assert httpx.get(f"{url}/readyz").json()["status"] == "ready"
    # The API docs' files are package data: a plain install must carry them too.
    assert httpx.get(f"{url}/docs").status_code == 200
    # Both commands say where to go: the address to open, and where the demo people's
    # passwords and TOTP secrets are (the file, never a secret itself).
    init = installed_hub.init_output
    assert f"web UI        {url}/ once `ketenhub serve` runs" in init
    assert "passwords and TOTP secrets are in var/demo-credentials.json" in init
    served = installed_hub.log.read_text(errors="replace")
    assert f"open {url}/ and log in" in served
    assert 'var/demo-credentials.json, under "users"' in served
    assert "pyotp.TOTP(" in served


# -- the web UI of the installed hub, as a browser without JavaScript takes it ----------------


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)


class _Page(HTMLParser):
    """The forms of a page (action, method, fields with their values) and the files it links."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self.links: list[str] = []
        self.lang: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "html":
            self.lang = attributes.get("lang")
        elif tag == "form":
            self.forms.append(Form(attributes.get("action", ""), attributes.get("method", "get")))
        elif tag in {"input", "button", "select", "textarea"} and self.forms:
            if "name" in attributes:
                self.forms[-1].fields[attributes["name"]] = attributes.get("value", "")
        elif tag == "link" and attributes.get("href"):
            self.links.append(attributes["href"])
        elif tag == "script" and attributes.get("src"):
            self.links.append(attributes["src"])


def parse_page(html: str) -> _Page:
    parsed = _Page()
    parsed.feed(html)
    return parsed


@dataclass
class Visitor:
    """A browser's part of the login: it follows redirects itself and keeps its cookies by
    hand (httpx sends a ``Secure`` cookie only over https; a browser's 127.0.0.1 is secure)."""

    base: str
    client: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30))
    cookies: dict[str, str] = field(default_factory=dict)
    seen: list[str] = field(default_factory=list)

    def send(self, method: str, url: str, data: dict[str, str] | None = None) -> httpx.Response:
        headers = {"Accept": "text/html"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if method == "POST":  # a form of the hub's own page
            headers |= {"Origin": self.base, "Sec-Fetch-Site": "same-origin"}
        response = self.client.request(
            method, urljoin(self.base + "/", url), headers=headers, data=data
        )
        for cookie in response.headers.get_list("set-cookie"):
            name, value = cookie.split(";", 1)[0].split("=", 1)
            self.cookies[name] = value
        self.seen.append(f"{method} {urlsplit(str(response.url)).path} {response.status_code}")
        return response

    def follow(self, response: httpx.Response) -> httpx.Response:
        """Follow 303s (as GETs) to the page they end on."""
        while response.status_code in {302, 303}:
            response = self.send("GET", response.headers["location"])
        return response

    def submit(
        self, page: httpx.Response, field_name: str, values: dict[str, str]
    ) -> httpx.Response:
        """Fill in and send the form of ``page`` that has ``field_name``, hidden fields and all."""
        form = next(f for f in parse_page(page.text).forms if field_name in f.fields)
        data = {name: value for name, value in form.fields.items() if name not in values}
        answer = self.send(form.method.upper(), form.action, data | values)
        return self.follow(answer)

    def log_in(self, username: str, password: str, code: str) -> httpx.Response:
        """``/login``, the password page, the code page, the callback: the page it ends on."""
        password_page = self.follow(self.send("GET", "/login?next=/"))
        assert any("password" in form.fields for form in parse_page(password_page.text).forms)
        code_page = self.submit(
            password_page, "password", {"username": username, "password": password}
        )
        assert code_page.status_code == 200, self.seen
        return self.submit(code_page, "code", {"code": code})


def test_the_installed_hub_serves_its_login_page_and_browser_files(
    installed_hub: InstalledHub,
) -> None:
    visitor = Visitor(installed_hub.url)
    page = visitor.follow(visitor.send("GET", "/login"))
    # /login -> /oauth/authorize?… -> the password page, from the shipped templates and the
    # compiled Dutch catalog.
    assert page.status_code == 200, visitor.seen
    assert urlsplit(str(page.url)).path == "/oauth/authorize"
    parsed = parse_page(page.text)
    assert parsed.lang == "nl"
    assert '<h1 class="utrecht-heading-1">Inloggen</h1>' in page.text
    login_form = next(form for form in parsed.forms if "password" in form.fields)
    assert login_form.action == "/oauth/authorize"
    assert {"csrf_token", "username", "password"} <= set(login_form.fields)

    # Every file the page links (the vendored NL Design System CSS, the hub's CSS and icon),
    # and the hub's scripts, which pages further on load.
    linked = set(parsed.links) | {"/static/ui/pages/upload.js", "/static/ui/pages/receipts.js"}
    assert any(href.startswith("/static/vendor/") for href in linked), linked
    assert {"/static/ui/hub.css", "/static/ui/favicon.svg"} <= linked
    kinds = {".css": "text/css", ".js": "javascript", ".svg": "image/svg+xml"}
    for href in sorted(linked):
        answer = httpx.get(installed_hub.url + href, timeout=30)
        assert answer.status_code == 200, href
        assert kinds[Path(href).suffix] in answer.headers["content-type"], href
        assert answer.content, href


def test_a_demo_person_logs_in_to_the_installed_hub(installed_hub: InstalledHub) -> None:
    person = installed_hub.users()["gm0363.medewerker"]
    register_secret(person["password"], "demo user password")
    register_secret(person["totp_secret"], "demo user TOTP secret")
    visitor = Visitor(installed_hub.url)
    home = visitor.log_in(
        person["username"], person["password"], pyotp.TOTP(person["totp_secret"]).now()
    )
    # … /login/callback?code=… -> / : the Dutch home page, as the person.
    assert [step.split()[1] for step in visitor.seen[-2:]] == ["/login/callback", "/"], visitor.seen
    assert home.status_code == 200, visitor.seen
    assert parse_page(home.text).lang == "nl"
    assert "Nieuw sinds uw vorige bezoek" in home.text
    assert "gm0363.medewerker" in home.text
    documents = visitor.send("GET", "/documents")
    assert documents.status_code == 200
    assert "Documenten" in documents.text


@pytest.fixture(scope="module")
def demo_hub(clean_clone: Path) -> Iterator[str]:
    """``./scripts/demo --port P`` from the clean clone, exactly as the README says, on a free
    port; no ``KETENHUB_ISSUER``: the script makes it follow the port."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = user_environment()
    log = clean_clone / "demo.log"
    try:
        # The first run creates .venv and installs the hub into it: minutes, not seconds.
        with running(
            ["./scripts/demo", "--port", str(port)],
            env=env,
            cwd=clean_clone,
            log=log,
            ready=http_ready(f"{url}/readyz"),
            timeout=540,
        ):
            yield url
    finally:
        record_command(["scripts/demo"], env, stdout=log.read_text(errors="replace"), stderr="")


def test_the_readme_walkthrough_runs_against_the_demo(clean_clone: Path, demo_hub: str) -> None:
    env = user_environment(KETENHUB_URL=demo_hub)
    result = subprocess.run(
        ["./scripts/walkthrough"],
        cwd=clean_clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    record_command(["scripts/walkthrough"], env, stdout=result.stdout, stderr=result.stderr)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert "the bytes match the upload's sha256" in result.stdout
    assert "audit trail intact" in result.stdout
    # The story in the trail: the upload, GM0363's refusal, the share, its download, the
    # revocation and GM0363's refusal afterwards, each recorded with the rule that decided.
    assert "document.upload success IOM travel_document.upload[IOM]" in result.stdout
    assert re.search(r"document\.download success GM0363 share\[[0-9a-f-]{36}\]", result.stdout)
    assert "share.revoke success DTV" in result.stdout


def test_a_demo_person_logs_in_with_the_code_demo_login_prints(
    clean_clone: Path, demo_hub: str
) -> None:
    # What the demo printed before it served: where to go and where the credentials are.
    said = (clean_clone / "demo.log").read_text(errors="replace")
    assert f"open {demo_hub}/ and log in" in said
    assert "./scripts/demo-login USERNAME" in said
    # Its issuer followed --port: the audit key is named after it, and logins return to it.
    host = urlsplit(demo_hub).netloc
    assert httpx.get(f"{demo_hub}/readyz").json()["key_ids"]["audit"].startswith(f"{host}/audit+")

    result = subprocess.run(
        ["./scripts/demo-login", "iom.medewerker"],
        cwd=clean_clone,
        env=user_environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    printed = dict(line.split(None, 1) for line in result.stdout.splitlines())
    register_secret(printed["password"], "demo user password")
    visitor = Visitor(demo_hub)
    home = visitor.log_in("iom.medewerker", printed["password"], printed["code"].split()[0])
    assert urlsplit(str(home.url)).netloc == host, visitor.seen
    assert home.status_code == 200, visitor.seen
    assert "iom.medewerker" in home.text


def test_the_readme_shows_the_walkthrough_verbatim() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    script = (ROOT / "scripts" / "walkthrough").read_text("utf-8")
    assert WALKTHROUGH_START in readme
    shown = readme.split(WALKTHROUGH_START, 1)[1].split("```sh\n", 1)[1].split("\n```", 1)[0]
    assert shown + "\n" == script, "README.md's walkthrough differs from scripts/walkthrough"


def _documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


@pytest.mark.parametrize("document", _documents(), ids=lambda p: str(p.relative_to(ROOT)))
def test_links_resolve_inside_the_repository(document: Path) -> None:
    for target in LINK.findall(document.read_text("utf-8")):
        if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # an absolute URL (https:, mailto:) or an anchor on the same page
        path = (document.parent / target.split("#", 1)[0]).resolve()
        assert path.is_relative_to(ROOT), f"{document.name} links outside the repository: {target}"
        assert path.exists(), f"{document.name} links to a missing file: {target}"


def test_the_readme_screenshots_are_small_pngs_of_the_demo() -> None:
    # The README's pictures of the web UI: PNGs taken at 1280x800, each under 150 KB, so the
    # repository stays light; every one the README shows exists (the link test above) and is
    # shown (no stale files).
    shots = sorted((ROOT / "docs" / "screenshots").glob("*"))
    readme = (ROOT / "README.md").read_text("utf-8")
    assert len(shots) >= 3
    for shot in shots:
        data = shot.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", shot.name
        width, height = struct.unpack(">II", data[16:24])  # IHDR, the first chunk
        assert (width, height) == (1280, 800), shot.name
        assert len(data) < 150_000, shot.name
        assert f"(docs/screenshots/{shot.name})" in readme, shot.name
