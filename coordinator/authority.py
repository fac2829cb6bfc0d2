"""Who may start a job, and which accounts a job may touch: the stack's rules, not the message's.

A job message is a request. Its sender (the SQS ``SenderId``: a role's or user's unique id, with
the session name after a colon for a role) must be one of the stack's job submitters
(``S3MIGRATOR_JOB_SUBMITTERS``: role or user ARNs of the stack's account, resolved here to their
unique ids, or unique ids given as they are, for principals of other accounts). Each side of the
job is bound to the account that must own its bucket: the side's ``account_id``, its role's
account, or the stack's own; that account must be one of
``S3MIGRATOR_ALLOWED_ACCOUNTS`` (the stack's own when unset), and every S3 request of the job
then names it as the expected bucket owner. The queue policies say the same to SQS itself
(``infra/template.yaml``); this is the check that holds whatever a queue's policy says.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from s3migrator.aws_errors import PROVIDER_ERRORS, translate, translated
from s3migrator.errors import InvalidJobError, TransientError
from s3migrator.models import JobMessage, Location
from s3migrator.names import KMS_KEY_ARN

if TYPE_CHECKING:
    import boto3

    from s3migrator.settings import Settings

log = logging.getLogger(__name__)
# A sender not found among the resolved ids sends the names to IAM again at most this often,
# so a submitter role created after the coordinator started is known without a restart.
RESOLVE_AGAIN_S = 300.0


def split_list(text: str) -> list[str]:
    return [entry.strip() for entry in text.split(",") if entry.strip()]


def principal_id(sender_id: str) -> str:
    """``AROAEXAMPLE:session`` → ``AROAEXAMPLE``: the principal, whatever its session's name."""
    return sender_id.split(":", 1)[0]


@dataclass
class Authority:
    """The stack's rules for job messages; ``iam`` and ``own_account`` are asked lazily."""

    submitters: list[str]
    allowed_accounts: list[str]
    session: boto3.Session
    # Where a side without a region is (the coordinator's own region).
    region: str
    clock: Callable[[], float] = time.monotonic
    # The stack's own relays (unique ids): see ``senders_refusal``.
    relays: list[str] = field(default_factory=list)
    _own_account: str | None = None
    _ids: set[str] = field(default_factory=set)
    _resolved_at: float | None = None
    _unresolved: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def from_settings(cls, settings: Settings, session: boto3.Session) -> Authority:
        return cls(
            split_list(settings.job_submitters),
            split_list(settings.allowed_accounts),
            session,
            session.region_name or "us-east-1",
            relays=split_list(settings.job_relays),
        )

    def recorded(self, sender_id: str | None, original: str | None) -> str | None:
        """Who a job is recorded as started by: the caller a relay of the stack's names, else
        the message's own sender (an original another sender names is checked, not taken)."""
        return original if original and self._relay(sender_id) else sender_id

    def _relay(self, sender_id: str | None) -> bool:
        return sender_id is not None and principal_id(sender_id) in self.relays

    def senders_refusal(self, sender_id: str | None, original: str | None) -> str | None:
        """Why a message from ``sender_id``, relayed for ``original`` (or not), is refused.

        A relay of the stack's own (its progress function, for a dashboard's caller) is
        trusted to name the caller, who must be a submitter; it starts nothing on its own. Any
        other sender must be a submitter, and so must the original sender it names (a dead
        letter moved back names who sent it first; anyone may set the attribute).
        """
        if self._relay(sender_id):
            if not original:
                return f"relay {sender_id} names no original sender; nothing was done"
            return self.refusal(original)
        return self.refusal(sender_id) or (self.refusal(original) if original else None)

    @property
    def own_account(self) -> str:
        if self._own_account is None:
            sts: Any = self.session.client("sts")
            with translated():  # a passing STS error leaves the message to be tried again
                self._own_account = str(sts.get_caller_identity()["Account"])
        return self._own_account

    @property
    def accounts(self) -> list[str]:
        return self.allowed_accounts or [self.own_account]

    def refusal(self, sender_id: str | None) -> str | None:
        """Why a job message from ``sender_id`` is refused; None when its sender may start jobs.

        Raises TransientError when the sender is not known but some submitter could not be
        resolved just now (IAM throttled or unreachable): the message is tried again later
        rather than refused for good.
        """
        if not self.submitters:
            return (
                "no job submitters are configured (the stack's JobSubmitters,"
                " S3MIGRATOR_JOB_SUBMITTERS): every job message is refused"
            )
        if not sender_id:
            return "the message carries no SenderId, so its sender cannot be checked"
        principal = principal_id(sender_id)
        with self._lock:
            if principal in self._ids:
                return None
            due = self._resolved_at is None or self.clock() - self._resolved_at >= RESOLVE_AGAIN_S
            if due or self._unresolved:
                ids, self._unresolved = self._resolve()
                # Ids resolved before are kept for entries IAM could not answer for now.
                self._ids = ids | (self._ids if self._unresolved else set())
                self._resolved_at = self.clock()
                if principal in self._ids:
                    return None
            if self._unresolved:
                raise TransientError(
                    "SubmittersUnresolved",
                    f"job submitters {', '.join(self._unresolved)} could not be resolved yet",
                )
        return (
            f"sender {sender_id} is not one of the stack's job submitters (JobSubmitters,"
            " S3MIGRATOR_JOB_SUBMITTERS); nothing was done"
        )

    def _resolve(self) -> tuple[set[str], list[str]]:
        """The unique ids of the submitters, and the entries IAM could not answer for now.

        Only ARNs of the stack's own account are looked up (IAM names a role or user only in
        its own account): a principal of another account is listed by its unique id.
        """
        ids: set[str] = set()
        unresolved: list[str] = []
        iam: Any = self.session.client("iam")
        for entry in self.submitters:
            if not entry.startswith("arn:"):
                ids.add(entry)  # a unique id (AROA..., AIDA...) given as it is
                continue
            parts = entry.split(":", 5)
            if len(parts) < 6 or parts[4] != self.own_account:
                log.warning(
                    "job submitter %s is not of this account (%s): list it by its unique id",
                    entry,
                    self.own_account,
                )
                continue
            kind, _, name = parts[5].partition("/")
            name = name.rsplit("/", 1)[-1]
            try:
                if kind == "role":
                    ids.add(iam.get_role(RoleName=name)["Role"]["RoleId"])
                elif kind == "user":
                    ids.add(iam.get_user(UserName=name)["User"]["UserId"])
                else:
                    log.warning("job submitter %s is neither a role nor a user; ignored", entry)
            except PROVIDER_ERRORS as exc:
                error = translate(exc)
                log.warning("job submitter %s could not be resolved: %s", entry, error)
                if isinstance(error, TransientError):
                    unresolved.append(entry)
        return ids, unresolved

    def bind(self, job: JobMessage, *, enforce: bool = True) -> JobMessage:
        """The job with each side's owning account filled in; InvalidJobError when a side or
        the destination's KMS key lies outside the accounts the stack allows (``enforce``:
        ``s3migrator check``, which does not know the stack's list, only fills them in)."""
        source = self._bound("source", job.source, enforce)
        destination = self._bound("destination", job.destination, enforce)
        return job.model_copy(update={"source": source, "destination": destination})

    def _bound(self, side: str, location: Location, enforce: bool) -> Location:
        owner = location.owner or self.own_account
        if enforce and owner not in self.accounts:
            raise InvalidJobError(
                f"{side} bucket {location.bucket!r} would be in account {owner}, which is not one"
                f" of the accounts this stack may touch ({', '.join(self.accounts)}; the"
                " stack's AllowedAccounts)"
            )
        key = KMS_KEY_ARN.match(location.kms_key_id or "")
        if key is not None and key["account"] != owner:
            raise InvalidJobError(
                f"the {side}'s KMS key is in account {key['account']}, its bucket in {owner}"
            )
        region = location.region or self.region
        if key is not None and key["region"] != region:
            raise InvalidJobError(
                f"the {side}'s KMS key is in {key['region']}, its bucket in {region}"
            )
        return location.model_copy(update={"account_id": owner})
