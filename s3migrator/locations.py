"""The two kinds of place a job names: a side of the copy, and where its report goes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from s3migrator.names import (
    KMS_KEY_ARN,
    ROLE_ARN_PATTERN,
    AccountId,
    BucketName,
    Prefix,
    Region,
    ReportPrefix,
    account_of_arn,
    split_s3_url,
)

# Fields a job's sides once had, now the stack's (external ids) or the tool's (session names).
RETIRED_FIELDS = ("external_id", "session_name")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Location(_Strict):
    """One side of a job: a bucket, an optional key prefix, and how to reach it.

    ``account_id`` is the account that must own the bucket; every request names it, so a bucket
    of that name in any other account is refused. Unset, it is the role's account, or the
    stack's own when there is no role (the coordinator records it when it takes the job).
    External ids are the stack's configuration (``S3MIGRATOR_EXTERNAL_IDS``), never a message's.
    """

    bucket: BucketName
    prefix: Prefix = ""
    region: Region | None = None
    role_arn: str | None = Field(default=None, pattern=ROLE_ARN_PATTERN, max_length=2048)
    account_id: AccountId | None = None
    # Destination only: encrypt new objects with this KMS key (else the bucket's default).
    kms_key_id: str | None = Field(default=None, max_length=2048)

    @model_validator(mode="before")
    @classmethod
    def _retired_fields(cls, data: Any) -> Any:
        """Records and batches written before external ids and session names left the job
        still read; the values are dropped (a job message naming one is refused, see
        ``JobMessage``), and the stack's ``RoleExternalIds`` applies."""
        if not isinstance(data, dict):
            return data
        return {k: v for k, v in data.items() if k not in RETIRED_FIELDS}

    @model_validator(mode="after")
    def _consistent(self) -> Location:
        if self.role_arn and self.account_id and account_of_arn(self.role_arn) != self.account_id:
            raise ValueError(
                f"role {self.role_arn} is not in account {self.account_id}; a side's role is"
                " in the account that owns its bucket"
            )
        if self.kms_key_id is not None:
            key = KMS_KEY_ARN.match(self.kms_key_id)
            if key is None:
                raise ValueError(
                    "kms_key_id must be a key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID), not an"
                    " alias or a bare key id"
                )
            if self.region and key["region"] != self.region:
                raise ValueError(f"the KMS key is in {key['region']}, the bucket in {self.region}")
            if self.owner and key["account"] != self.owner:
                raise ValueError(
                    f"the KMS key is in account {key['account']}, the bucket in {self.owner}"
                )
        return self

    @property
    def owner(self) -> str | None:
        """The account that must own the bucket, when the side says: its own or its role's."""
        if self.account_id:
            return self.account_id
        return account_of_arn(self.role_arn) if self.role_arn else None

    def expected_owner(self) -> dict[str, Any]:
        """``ExpectedBucketOwner`` for a request on this side's bucket (nothing when unknown)."""
        return {"ExpectedBucketOwner": self.owner} if self.owner else {}

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    @classmethod
    def from_url(cls, url: str, **fields: str | None) -> Location:
        """``Location.from_url("s3://b/p/", region="eu-west-1")``; unset fields are left out.

        Raises ValueError (pydantic's ValidationError is one) for a malformed URL or field.
        """
        bucket, prefix = split_s3_url(url)
        return cls(bucket=bucket, prefix=prefix, **{k: v for k, v in fields.items() if v})


class ReportLocation(_Strict):
    """Where the job's completion report (CSV of failed objects) is written when it ends."""

    bucket: BucketName
    prefix: ReportPrefix = "s3migrator-reports/"

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    @classmethod
    def from_url(cls, url: str) -> ReportLocation:
        """An ``s3://BUCKET[/PREFIX]`` URL; without a prefix the default one is used."""
        bucket, prefix = split_s3_url(url)
        return cls(bucket=bucket, prefix=prefix) if prefix else cls(bucket=bucket)
