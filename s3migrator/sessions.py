"""Assumed-role sessions that refresh themselves, one per (role, region) per process.

Built on botocore's refreshable credentials, not a hand-written timer: every request asks the
credentials object for a frozen copy, and it assumes the role again when less than the refresh
margin is left. The margin defaults to 15 minutes (one object copy can outlive a smaller window)
and sessions last one hour, the cap when a role is chained from a task role.

Example::

    sessions = RoleSessions(base=boto3.Session())
    clients = S3Clients(sessions, default=boto3.client("s3"))
    s3 = clients.for_location(Location(bucket="b", role_arn="arn:aws:iam::222222222222:role/m"))
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

import boto3
import botocore.session
from botocore.credentials import CredentialProvider, Credentials, DeferredRefreshableCredentials
from dateutil.tz import tzlocal

from s3migrator.models import ROLE_ARN_PATTERN, CopySpec, Location

if TYPE_CHECKING:
    from botocore.config import Config
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sts import STSClient

    from s3migrator.aws import Aws
    from s3migrator.settings import Settings

ONE_HOUR_S = 3600
REFRESH_MARGIN_S = 15 * 60
DEFAULT_SESSION_NAME = "s3migrator"
METHOD = "assume-role"


def _local_now() -> datetime:
    """The clock botocore's own credentials use (timezone-aware local time)."""
    return datetime.now(tzlocal())


class _MarginCredentials(DeferredRefreshableCredentials):
    """Refreshable credentials with our margin instead of botocore's 10/15-minute defaults."""

    def __init__(
        self,
        refresh_using: Callable[[], dict[str, Any]],
        time_fetcher: Callable[[], datetime],
        margin_s: int,
    ) -> None:
        super().__init__(refresh_using=refresh_using, method=METHOD, time_fetcher=time_fetcher)
        # Refresh is tried from margin + 5 minutes before expiry, and forced (every thread
        # waits) at the margin, so no request is ever signed with less than the margin left.
        self._advisory_refresh_timeout = margin_s + 300
        self._mandatory_refresh_timeout = margin_s


class _Provider(CredentialProvider):
    """Hands our credentials to a botocore session through its public provider chain."""

    METHOD = "s3migrator-assume-role"

    def __init__(self, credentials: Credentials) -> None:
        super().__init__()
        self._credentials = credentials

    def load(self) -> Credentials:
        return self._credentials


_NOT_IN_SESSION_NAMES = re.compile(r"[^\w+=,.@-]")
# STS's own limits on an external id.
_EXTERNAL_ID = re.compile(r"[\w+=,.@:/-]{2,1224}")
_ROLE_ARN = re.compile(ROLE_ARN_PATTERN)
MAX_SESSION_NAME = 64


def session_name(job_id: str | None) -> str:
    """``s3migrator-<job_id>``, within STS's 64 characters of ``[\\w+=,.@-]``: the tool sets it,
    never a message, so CloudTrail ties every request of a job to that job."""
    if job_id is None:
        return DEFAULT_SESSION_NAME
    name = f"{DEFAULT_SESSION_NAME}-{_NOT_IN_SESSION_NAMES.sub('.', job_id)}"
    if len(name) <= MAX_SESSION_NAME and _NOT_IN_SESSION_NAMES.search(job_id) is None:
        return name
    # Cut or changed: the id's digest keeps two jobs (``a:b``, ``a.b``) apart in CloudTrail.
    digest = hashlib.sha256(job_id.encode()).hexdigest()[:8]
    return f"{name[: MAX_SESSION_NAME - 9]}-{digest}"


def source_identity(sender: str | None) -> str | None:
    """The job's sender as an STS source identity (2-64 characters of ``[\\w+=,.@-]``); it
    stays on every session chained from this one."""
    if not sender:
        return None
    identity = _NOT_IN_SESSION_NAMES.sub("@", sender)[:MAX_SESSION_NAME]
    return identity if len(identity) >= 2 else None


def parse_external_ids(text: str) -> dict[str, str]:
    """``S3MIGRATOR_EXTERNAL_IDS``: a JSON object of role ARN to external id."""
    try:
        value = json.loads(text or "{}")
    except json.JSONDecodeError as exc:
        raise ValueError(f"S3MIGRATOR_EXTERNAL_IDS is not JSON: {exc}") from exc
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ValueError('S3MIGRATOR_EXTERNAL_IDS must be {"role ARN": "external id", ...}')
    for role, external_id in value.items():
        if not _ROLE_ARN.fullmatch(role):
            raise ValueError(f"S3MIGRATOR_EXTERNAL_IDS: {role!r} is not a role ARN")
        if not _EXTERNAL_ID.fullmatch(external_id):
            raise ValueError(
                f"S3MIGRATOR_EXTERNAL_IDS: the external id of {role} must be 2 to 1224"
                " characters of letters, digits and +=,.@:/-"
            )
    return value


@dataclass(frozen=True)
class RoleKey:
    role_arn: str
    region: str
    external_id: str | None = None
    session_name: str = DEFAULT_SESSION_NAME
    source_identity: str | None = None


@dataclass
class RoleSessions:
    """Caches one refreshable session per role and region; safe to share between threads."""

    base: boto3.Session
    duration_s: int = ONE_HOUR_S
    refresh_margin_s: int = REFRESH_MARGIN_S
    clock: Callable[[], datetime] = _local_now
    # The stack's external id for each role (a message cannot name one).
    external_ids: dict[str, str] = field(default_factory=dict)
    _sessions: dict[RoleKey, boto3.Session] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.refresh_margin_s >= self.duration_s:
            raise ValueError("the refresh margin must be shorter than the session")

    @cached_property
    def default_region(self) -> str:
        # Read once: botocore looks the region up through its config chain on every read,
        # and every copy asks for it.
        return self.base.region_name or "us-east-1"

    def for_location(self, location: Location, job: CopySpec | None = None) -> boto3.Session:
        """The session that reaches ``location``: its role's, or the process's own. For a job,
        the role's session is named after the job and carries its sender as source identity."""
        if location.role_arn is None:
            return self.base
        key = RoleKey(
            location.role_arn,
            location.region or self.default_region,
            self.external_ids.get(location.role_arn),
            session_name(job.job_id if job else None),
            source_identity(job.sender if job else None),
        )
        with self._lock:
            if key not in self._sessions:
                self._sessions[key] = self._assumed(key)
            return self._sessions[key]

    def _assumed(self, key: RoleKey) -> boto3.Session:
        sts: STSClient = self.base.client("sts", region_name=key.region)
        extra: dict[str, Any] = {"ExternalId": key.external_id} if key.external_id else {}
        if key.source_identity:
            extra["SourceIdentity"] = key.source_identity

        def fetch() -> dict[str, Any]:
            credentials = sts.assume_role(
                RoleArn=key.role_arn,
                RoleSessionName=key.session_name,
                DurationSeconds=self.duration_s,
                **extra,
            )["Credentials"]
            return {
                "access_key": credentials["AccessKeyId"],
                "secret_key": credentials["SecretAccessKey"],
                "token": credentials["SessionToken"],
                "expiry_time": credentials["Expiration"].isoformat(),
            }

        credentials = _MarginCredentials(fetch, self.clock, self.refresh_margin_s)
        session = botocore.session.Session()
        session.get_component("credential_provider").insert_before("env", _Provider(credentials))
        return boto3.Session(botocore_session=session, region_name=key.region)


@dataclass
class S3Clients:
    """One S3 client per (role, region), shared by every copy thread of the process.

    ``default`` is the process's own client, used for a side with no role in the default region.
    """

    sessions: RoleSessions
    default: S3Client
    config: Config | None = None
    # Told of every client made, with its session (the copier's direct route, `direct_copies`).
    on_client: Callable[[S3Client, boto3.Session], None] | None = None
    _clients: dict[tuple[str | None, str | None, str | None, str], S3Client] = field(
        default_factory=dict
    )
    _pinned: dict[tuple[str | None, str, str], S3Client] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def pinned(self, location: Location, job: CopySpec, region: str) -> S3Client:
        """A client for ``location`` that reaches its bucket only in ``region``.

        S3 carries out no request signed for another region than the bucket's; botocore
        sends such a request again to the bucket's region. This client does not: a bucket of
        the name that is now elsewhere (a migration's new bucket, in its account's other
        region) refuses its deletions (``WrongRegionError``) however late they come.
        """
        key = (location.role_arn, job.job_id, region)
        with self._lock:
            if key not in self._pinned:
                session = self.sessions.for_location(location, job)
                client = session.client("s3", region_name=region, config=self.config)
                client.meta.events.register("before-call.s3", _stay_in_region)
                self._made(client, session)
                self._pinned[key] = client
            return self._pinned[key]

    def for_location(self, location: Location, job: CopySpec | None = None) -> S3Client:
        """The client for one side; ``job`` names the role session after the job (see
        ``RoleSessions.for_location``)."""
        region = location.region or self.sessions.default_region
        if location.role_arn is None and region == self.sessions.default_region:
            return self.default
        key = (
            location.role_arn,
            job.job_id if job else None,
            job.sender if job else None,
            region,
        )
        with self._lock:
            if key not in self._clients:
                session = self.sessions.for_location(location, job)
                client = session.client("s3", region_name=region, config=self.config)
                self._made(client, session)
                self._clients[key] = client
            return self._clients[key]

    def _made(self, client: S3Client, session: boto3.Session) -> None:
        if self.on_client is not None:
            self.on_client(client, session)


def _stay_in_region(context: dict[str, Any], **_: Any) -> None:
    """Mark the request as redirected already, so botocore's region redirector leaves S3's
    refusal to the caller rather than sending the request to the bucket's region."""
    redirect = context.get("s3_redirect")
    if redirect is not None:
        redirect["redirected"] = True


def s3_clients(
    aws: Aws,
    settings: Settings,
    default: S3Client | None = None,
    config: Config | None = None,
    on_client: Callable[[S3Client, boto3.Session], None] | None = None,
) -> S3Clients:
    """S3 clients per side of a job, with refreshable assumed-role sessions, as settings say.

    ``default`` (the client for a side with no role) may be given by a test that watches it;
    ``config`` replaces the clients' botocore configuration (``verify`` reads with its own);
    ``on_client`` is told of every client made, the default one first.
    """
    sessions = RoleSessions(
        base=aws.session,
        duration_s=settings.role_session_s,
        refresh_margin_s=settings.refresh_margin_s,
        external_ids=parse_external_ids(settings.external_ids),
    )
    default = default or aws.s3()
    if on_client is not None:
        on_client(default, aws.session)
    return S3Clients(sessions, default, config or aws.config(), on_client)
