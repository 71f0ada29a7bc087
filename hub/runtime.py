"""The long-lived objects a running hub needs, built once from settings.

Nothing connects at import time. ``build_services`` makes the engine, object store and key
provider from :class:`~hub.config.Settings`; the app's lifespan and the CLI both call it, and
request handlers receive the result through dependencies (see :mod:`hub.web.deps`).

The hub holds its keys as a :class:`~storage.keys.KeyProvider`, never as the local key ring:
only :func:`open_key_ring` and :func:`create_key_ring` name :class:`~storage.keys.LocalKeyRing`,
so another provider (a KMS) is passed to :func:`build_services` without a change elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session

from audit.events import Action
from auth.client_auth import ClientKeySets
from auth.scopes import parse_scopes
from auth.server_config import ServerConfig
from auth.tokens import TokenValidator, TrustedIssuer
from hub.accounts.factors import SealedFactorSecrets
from hub.accounts.people import AccountPeople
from hub.accounts.service import Accounts
from hub.config import Settings
from hub.core import db
from hub.directory.clients import DisabledClients
from hub.directory.organisations import OrganisationDirectory
from hub.keys.custodian import KeyCustodian
from hub.keys.signing import SealedSigningKeys
from hub.notifications.sealed_secrets import SealedWebhookSecrets
from hub.observability.metrics import HubMetrics
from hub.observability.store import ObservedStore
from hub.rules.loader import load_policy_file
from hub.rules.model import Policy
from hub.subjects.keys import SubjectKeys, SubjectProtector
from hub.tokens.people import EndedPeople, NoPeople, PersonLookup
from hub.tokens.service import OAuthService, make_signing_keys, revocation_check
from hub.tokens.standing import Standing
from hub.trail.auditor import Auditor
from hub.trail.checkpoint_export import build_export
from hub.trail.context import Context
from hub.trail.gate import RefusalGate
from hub.trail.keys import AuditKeys
from hub.trail.recorder import About, Recorder
from hub.vault import repository as vault_repository
from hub.vault.service import Vault
from hub.websessions.keys import WebSessionKeys
from hub.websessions.store import WebSessions
from storage.keys import KeyProvider, LocalKeyRing
from storage.objects import FilesystemStore, ObjectStore, S3Store


@dataclass(slots=True)
class PolicyHolder:
    """The sharing policy in force; loaded once the database can be read (see
    :meth:`Services.load_policy`)."""

    policy: Policy | None = None
    loaded_at: datetime | None = None
    """When this process loaded it (the policy pages show it per replica)."""


@dataclass(slots=True)
class AccountsHolder:
    """The accounts service, built on first use: its password hasher makes a dummy hash when
    built, which commands that never touch accounts need not pay for."""

    accounts: Accounts | None = None


@dataclass(slots=True)
class SessionKeysHolder:
    """The web-session keys, built on first use: one per process, since it caches them."""

    keys: WebSessionKeys | None = None


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    engine: Engine
    store: ObjectStore
    keys: KeyProvider
    vault: Vault
    oauth: OAuthService
    audit: Auditor
    organisations: OrganisationDirectory
    subjects: SubjectKeys
    metrics: HubMetrics = field(default_factory=HubMetrics)
    _policy: PolicyHolder = field(default_factory=PolicyHolder)
    _accounts: AccountsHolder = field(default_factory=AccountsHolder)
    _session_keys: SessionKeysHolder = field(default_factory=SessionKeysHolder)

    def close(self) -> None:
        db.dispose(self.engine)

    @property
    def policy(self) -> Policy:
        policy = self._policy.policy
        if policy is None:
            raise RuntimeError("the sharing policy is not loaded yet")
        return policy

    def load_policy(self) -> Policy:
        """Read and check the policy file against the organisations in the database.

        Raises :class:`~hub.rules.loader.PolicyError`, naming the line, if it does not load;
        the policy in force stays as it was.
        """
        policy = load_policy_file(
            self.settings.resolved_policy_file, organisations=self.organisations.kinds()
        )
        self._policy.policy = policy
        self._policy.loaded_at = datetime.now(UTC)
        return policy

    @property
    def policy_loaded_at(self) -> datetime:
        """When this process loaded the policy in force."""
        loaded_at = self._policy.loaded_at
        if loaded_at is None:
            raise RuntimeError("the sharing policy is not loaded yet")
        return loaded_at

    @property
    def accounts(self) -> Accounts:
        """People's accounts: passwords, second factors, throttling (one per process)."""
        if self._accounts.accounts is None:
            self._accounts.accounts = Accounts(keys=self.keys, auditor=self.audit)
        return self._accounts.accounts

    @property
    def session_keys(self) -> WebSessionKeys:
        """The web-session keys (sealed under the KEK ring; decision 0024), cached."""
        if self._session_keys.keys is None:
            self._session_keys.keys = WebSessionKeys(keys=self.keys)
        return self._session_keys.keys

    @property
    def custodian(self) -> KeyCustodian:
        """The owner of the key lifecycle, with every kind of sealed secret registered."""
        return KeyCustodian(
            provider=self.keys,
            vault=self.vault,
            signing=self.oauth.signing,
            audit_keys=self.audit.keys,
            session_keys=self.session_keys,
            # Each kind of secret the hub seals under a KEK, in the order `keys rewrap` reports.
            secrets=(
                SealedSigningKeys(self.keys),
                self.audit.keys,
                self.subjects,
                SealedFactorSecrets(self.keys),
                self.session_keys,
                SealedWebhookSecrets(self.keys),
            ),
        )

    @property
    def web_sessions(self) -> WebSessions:
        """The web UI's sessions (stateless beyond its settings and the cached web-session keys:
        the rows are the state)."""
        return WebSessions(
            keys=self.session_keys,
            engine=self.engine,
            idle=timedelta(seconds=self.settings.session_idle),
            lifetime=timedelta(seconds=self.settings.session_lifetime),
        )

    def protector(self) -> SubjectProtector:
        """The v-number keys (blind index and sealing), cached."""
        return self.subjects.current(lambda: Session(db.read_only(self.engine)))


def build_object_store(settings: Settings) -> ObjectStore:
    s3 = settings.s3_connection
    if s3 is None:
        return FilesystemStore(settings.storage_path)
    return S3Store(
        endpoint=s3.endpoint,
        access_key=s3.access_key.get_secret_value(),
        secret_key=s3.secret_key.get_secret_value(),
        bucket=s3.bucket,
        region=s3.region,
    )


def open_key_ring(settings: Settings) -> KeyProvider:
    """The local key ring of ``settings``: the one place the hub names the key file's class."""
    # Production refuses a key file the hub could write to (chmod 400; decision 0014).
    return LocalKeyRing(
        settings.resolved_key_file,
        wrap_limit=settings.kek_wrap_limit,
        allow_writable=not settings.is_production,
    )


def create_key_ring(settings: Settings) -> KeyProvider:
    """A new local key ring with one KEK (``ketenhub init``); refuses to overwrite one."""
    return LocalKeyRing.create(
        settings.resolved_key_file, allow_writable=not settings.is_production
    )


def build_services(
    settings: Settings,
    *,
    keys: KeyProvider | None = None,
    create_database: bool = False,
    people: PersonLookup | None = None,
) -> Services:
    """Build everything; loads the key ring (it must exist) but opens no connection.

    ``keys`` is the key provider to use; by default the local key ring of the settings.
    ``people`` answers the token service about people (see :func:`build_oauth`); by default
    the accounts (:class:`hub.accounts.people.AccountPeople`).

    Only what sets a database up (``ketenhub init``, tests) passes ``create_database``: for
    everything else a SQLite file that is not there is an error
    (:class:`hub.core.db.DatabaseNotFound`), never a new, empty database.
    """
    # The key ring first: without one nothing was ever set up, and "run `ketenhub init`" is the
    # whole answer, whatever the database URL says.
    if keys is None:
        keys = open_key_ring(settings)
    engine = db.make_engine(
        settings.resolved_database_url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        create=create_database,
    )
    store = build_object_store(settings)
    metrics = HubMetrics()
    metrics.watch_database(engine)
    organisations = OrganisationDirectory(engine)
    oauth = build_oauth(
        settings,
        engine,
        keys,
        organisations=organisations,
        people=people if people is not None else AccountPeople(),
    )
    audit = build_audit(settings, engine, keys, metrics=metrics)
    return Services(
        settings,
        engine,
        store,
        keys,
        # Documents reach the store only through the vault: its failures are counted there.
        Vault(store=ObservedStore(store, metrics.store_error), keys=keys),
        oauth,
        audit,
        organisations,
        SubjectKeys(keys=keys),
        metrics,
    )


def build_audit(
    settings: Settings, engine: Engine, keys: KeyProvider, *, metrics: HubMetrics | None = None
) -> Auditor:
    return Auditor(
        engine=engine,
        keys=AuditKeys(keys=keys, origin=settings.resolved_audit_origin),
        export=build_export(settings),
        purpose_uri=settings.purpose_uri,
        observer=metrics.audit if metrics is not None else None,
        refusals=RefusalGate(settings.audit_refusal_interval),
    )


def build_oauth(
    settings: Settings,
    engine: Engine,
    keys: KeyProvider,
    *,
    organisations: OrganisationDirectory,
    people: PersonLookup | None = None,
) -> OAuthService:
    """The authorization server and the token validator; ``organisations`` is the directory
    that tokens' organisations are checked against (the one the services share), ``people``
    the accounts' answers about people (none: nobody logs in)."""
    people = people if people is not None else NoPeople()
    signing = make_signing_keys(engine, keys, alg=settings.token_signing_alg)
    is_revoked = revocation_check(engine)
    standing = Standing(
        issuer=settings.issuer,
        organisations=organisations,
        disabled_clients=DisabledClients(engine),
        ended_people=EndedPeople(engine, people),
    )
    validator = TokenValidator(
        issuer=settings.issuer,
        audience=settings.resolved_api_audience,
        hub_keys=signing.published,
        is_revoked=is_revoked,
        standing=standing,
        trusted_issuers=[
            TrustedIssuer(
                issuer=t.issuer,
                jwks_url=t.jwks_url,
                organisation_claim=t.organisation_claim,
                allowed_scopes=parse_scopes(" ".join(t.allowed_scopes)),
                organisations=frozenset(t.organisations),
            )
            for t in settings.trusted_issuers
        ],
        jwks_timeout=settings.jwks_timeout,
        jwks_failure_ttl=settings.jwks_failure_ttl,
    )
    config = ServerConfig(
        issuer=settings.issuer,
        audience=settings.resolved_api_audience,
        token_lifetime=settings.access_token_lifetime,
        allow_client_secret=settings.allows_client_secret,
        purpose_uri=settings.purpose_uri,
    )
    return OAuthService(
        config=config,
        signing=signing,
        validator=validator,
        is_revoked=is_revoked,
        standing=standing,
        people=people,
        # Clients' jwks_uri: https only in production (DESIGN.md, decision 0029).
        client_keys=ClientKeySets(
            allow_http=not settings.is_production,
            timeout=settings.jwks_timeout,
            failure_ttl=settings.jwks_failure_ttl,
        ),
    )


def seed_wrap_counts(services: Services) -> None:
    """Load the per-KEK wrap counts from the database into the key ring."""
    with db.transaction(services.engine) as session:
        services.keys.seed_wrap_counts(vault_repository.wrap_counts(session))


def activate_policy(services: Services, context: Context) -> Policy:
    """Load the policy file and record in the audit trail which policy (by hash) is in force.

    Raises :class:`~hub.rules.loader.PolicyError` naming the line when the file does not load.
    """
    policy = services.load_policy()
    Recorder(services.audit, context).record_alone(
        Action.POLICY_LOAD,
        About("policy", policy.hash),
        detail=f"version {policy.version}",
    )
    return policy
