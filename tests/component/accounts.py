"""Other AWS accounts inside moto, for the cross-account tests (plain helpers).

Moto lets an assumed role's credentials act in the role's account (the role need not exist), so
``Account.enter`` is a way into any account, e.g. to create its buckets, roles or KMS keys.
Clients are made from the caller's session with the account's credentials, so no new session
(and no second load of botocore's models) is needed per account.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import boto3

SOURCE_ACCOUNT = "111111111111"
DESTINATION_ACCOUNT = "222222222222"
# What a stack that copies between the two sets as its AllowedAccounts.
BOTH_ACCOUNTS = f"{SOURCE_ACCOUNT},{DESTINATION_ACCOUNT}"

TRUST_ANYONE = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
}


def role_arn(account: str, name: str) -> str:
    return f"arn:aws:iam::{account}:role/{name}"


def allow(actions: list[str], resource: str = "*") -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": actions, "Resource": resource}],
    }


@dataclass(frozen=True)
class Account:
    """Credentials acting in one account, and the session that makes their clients."""

    session: boto3.Session
    credentials: dict[str, str]
    region: str

    @classmethod
    def enter(cls, base: boto3.Session, account: str, region: str = "us-east-1") -> Account:
        """Act in ``account`` (through a throwaway role there), in ``region``."""
        credentials = base.client("sts", region_name=region).assume_role(
            RoleArn=role_arn(account, "test-setup"), RoleSessionName="test-setup"
        )["Credentials"]
        return cls(
            base,
            {
                "aws_access_key_id": credentials["AccessKeyId"],
                "aws_secret_access_key": credentials["SecretAccessKey"],
                "aws_session_token": credentials["SessionToken"],
            },
            region,
        )

    def client(self, service: str) -> Any:
        return self.session.client(service, region_name=self.region, **self.credentials)

    def bucket_names(self) -> set[str]:
        return {b["Name"] for b in self.client("s3").list_buckets().get("Buckets", [])}

    def make_role(self, name: str, actions: list[str], trust: dict[str, Any] | None = None) -> str:
        """Create a role here with one inline policy allowing ``actions``; returns its ARN."""
        iam = self.client("iam")
        arn: str = iam.create_role(
            RoleName=name, AssumeRolePolicyDocument=json.dumps(trust or TRUST_ANYONE)
        )["Role"]["Arn"]
        iam.put_role_policy(
            RoleName=name, PolicyName="access", PolicyDocument=json.dumps(allow(actions))
        )
        return arn
