"""Small objects' CopyObject sent by the AWS Common Runtime (awscrt): botocore builds the
request, the CRT signs and sends it in C.

Why: what bounds a copier's rate on its share of a Fargate vCPU is its CPU per small object,
and most of it is botocore's send path in Python (signing, urllib3, retry bookkeeping), about
1.2 ms a request where s5cmd spends about 0.5 (`make bench`). The CRT's S3 client, the one
s3transfer uses for its fast transfers, does that part in C on its own connection pool.

How: a handler on the client's ``before-call`` event, registered after botocore's own, takes
the request botocore serialized (endpoint, path and headers from every parameter of the call),
sends it through the CRT, signed with the client's own credentials, and answers botocore with
the response, parsed by botocore's parser: the caller gets what botocore would have returned,
or the ``ClientError`` it would have raised. Only a success holding the copy's result and a
definite refusal (404, 412) are settled by the CRT. Anything else (a connection error, a
throttle, a server error, a redirect, a denial, a timeout, a success whose body does not hold
the result) answers nothing, and botocore sends the request itself, with its retry mode, region
redirects and error handling, after the wait its retry mode makes before a retry
(``first_retry_delay_s``). The CRT itself retries nothing, so no request is retried by both.

Only calls made through ``NativeCopies.copy_object`` go this way, each under a deadline, and only
requests the CRT signs as botocore would: plain SigV4 for ``s3`` in the client's region, with no
body, and no proxy in the environment. HTTPS trusts botocore's CA bundle (``AWS_CA_BUNDLE``) when
one is set. Everything else is botocore's.
"""

from __future__ import annotations

import io
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, urlsplit

import boto3
from awscrt.auth import AwsCredentials, AwsCredentialsProvider
from awscrt.http import HttpHeaders, HttpRequest
from awscrt.io import (
    ClientBootstrap,
    ClientTlsContext,
    DefaultHostResolver,
    EventLoopGroup,
    TlsConnectionOptions,
    TlsContextOptions,
)
from awscrt.s3 import (
    S3Client,
    S3RequestTlsMode,
    S3RequestType,
    S3ResponseError,
    S3RetryConfig,
    S3RetryMode,
)
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders
from botocore.endpoint import convert_to_response_dict
from botocore.parsers import RestXMLParser

from s3migrator.aws import fast_timestamp

if TYPE_CHECKING:
    from botocore.credentials import Credentials
    from botocore.model import OperationModel
    from mypy_boto3_s3 import S3Client as Boto3S3Client
    from mypy_boto3_s3.type_defs import CopyObjectOutputTypeDef

log = logging.getLogger(__name__)

# Objects up to this size go through the CRT; S3 copies them in well under the deadline, which
# bounds how long a thread waits on one request before botocore sends it again.
NATIVE_COPY_MAX_BYTES = 64 * 1024 * 1024
DEADLINE_S = 120.0
# Refusals that another attempt would meet again: botocore's own send could only repeat them.
# Not 403: a signature the CRT made and S3 refused is botocore's to make again.
SETTLED_REFUSALS = frozenset({404, 412})
# Statuses botocore's standard retry mode backs off from as throttles (S3's SlowDown is a 503).
THROTTLES = frozenset({429, 503})
# A proxy botocore would go through for the scheme: the CRT's client would not, so with one set
# botocore sends every request.
_PROXIES = {"http": ("HTTP_PROXY", "http_proxy"), "https": ("HTTPS_PROXY", "https_proxy")}


def _trusting(ca_bundle: str | None) -> TlsConnectionOptions | None:
    """TLS that trusts what botocore would: ``AWS_CA_BUNDLE`` when set, else the system's."""
    if not ca_bundle:
        return None
    options = TlsContextOptions()
    options.override_default_trust_store_from_path(None, ca_bundle)
    return ClientTlsContext(options).new_connection_options()


def first_retry_delay_s(status: int | None, draw: float) -> float:
    """How long botocore's standard retry mode waits before its first retry, for the CRT's
    failed attempt (``status`` None: no answer): ``draw`` (uniform in [0, 1)) times 1 s after a
    throttle (429, 503), 50 ms after any other failure. The request then goes to botocore,
    which sends it at once as its first attempt: without this wait, a throttled copy would be
    sent twice back to back."""
    return draw * (1.0 if status in THROTTLES else 0.05)


class _Raw(io.BytesIO):
    """The body in the form ``AWSResponse.content`` reads."""

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.getvalue()


@dataclass
class _Answer:
    status: int = 0
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: list[bytes] = field(default_factory=list)

    def on_headers(self, status_code: int, headers: list[tuple[str, str]], **_: Any) -> None:
        self.status = status_code
        self.headers = list(headers)

    def on_body(self, chunk: bytes, **_: Any) -> None:
        self.body.append(chunk)


@dataclass
class _Route:
    """One botocore client's way through the CRT: its region and credentials, and a CRT
    client per URL scheme, made on first use."""

    native: NativeCopies
    region: str
    credentials: Credentials
    _clients: dict[str, S3Client | None] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def crt_client(self, scheme: str) -> S3Client | None:
        """The CRT client for ``scheme``, or None when the CRT cannot make one (a CA bundle
        botocore reads and the CRT does not, such as OpenSSL's TRUSTED CERTIFICATE form):
        botocore then sends every copy, and the CRT is not asked again."""
        with self._lock:
            if scheme not in self._clients:
                try:
                    made: S3Client | None = self.native.crt_client(
                        self.region, self.credentials, tls=scheme == "https"
                    )
                except Exception as exc:
                    log.warning("no CRT client for %s (%s); botocore sends every copy", scheme, exc)
                    made = None
                self._clients[scheme] = made
            return self._clients[scheme]

    def before_call(
        self, model: OperationModel, params: dict[str, Any], context: dict[str, Any], **_: Any
    ) -> tuple[AWSResponse, dict[str, Any]] | None:
        deadline_s = self.native.deadline_s()
        if deadline_s is None or model.name != "CopyObject" or not self._signable(params, context):
            return None
        url = urlsplit(params["url"])
        if url.scheme not in _PROXIES or any(os.environ.get(name) for name in _PROXIES[url.scheme]):
            return None
        crt = self.crt_client(url.scheme)
        return None if crt is None else self.native.send(crt, model, url, params, deadline_s)

    def _signable(self, params: dict[str, Any], context: dict[str, Any]) -> bool:
        signing = context.get("signing") or {}
        return (
            context.get("auth_type") == "v4"
            and signing.get("signing_name", "s3") == "s3"
            and signing.get("region", self.region) == self.region
            and not params.get("body")
            and not params.get("query_string")
        )


class NativeCopies:
    """CopyObject through the CRT for the clients it is ``attach``-ed to.

    >>> native = NativeCopies()
    >>> native.attach(s3, session.get_credentials())
    >>> native.copy_object(s3, Bucket="b", Key="k", CopySource="src/k")
    """

    def __init__(
        self,
        deadline_s: float = DEADLINE_S,
        event_loop_threads: int = 1,
        sleep: Callable[[float], None] = time.sleep,
        random: Callable[[], float] = random.random,
    ) -> None:
        self._deadline_s = deadline_s
        self._sleep, self._random = sleep, random
        self._parser = RestXMLParser(timestamp_parser=fast_timestamp)
        self._local = threading.local()
        group = EventLoopGroup(event_loop_threads)
        self._bootstrap = ClientBootstrap(group, DefaultHostResolver(group))

    def attach(self, client: Boto3S3Client, credentials: Credentials | None) -> None:
        """Let ``copy_object`` calls on ``client`` go through the CRT (never without
        credentials: anonymous requests stay botocore's)."""
        if credentials is None:
            return
        route = _Route(self, client.meta.region_name, credentials)
        # botocore takes a handler's answer to `before-call` as the call's response; last, so
        # that botocore's own handlers have added their headers first.
        handler: Any = route.before_call
        client.meta.events.register_last("before-call", handler)

    def attach_session(self, client: Boto3S3Client, session: boto3.Session) -> None:
        """``attach`` with the credentials of the session that made ``client``."""
        self.attach(client, session.get_credentials())

    def copy_object(self, client: Boto3S3Client, **params: Any) -> CopyObjectOutputTypeDef:
        """``client.copy_object(**params)``, sent by the CRT when the client is attached."""
        self._local.active = True
        try:
            return client.copy_object(**params)
        finally:
            self._local.active = False

    def deadline_s(self) -> float | None:
        return self._deadline_s if getattr(self._local, "active", False) else None

    def crt_client(self, region: str, credentials: Credentials, *, tls: bool) -> S3Client:
        def current() -> AwsCredentials:
            # botocore's credentials refresh themselves (assumed roles, 15 minutes early).
            frozen = credentials.get_frozen_credentials()
            return AwsCredentials(frozen.access_key, frozen.secret_key, frozen.token)

        return S3Client(
            bootstrap=self._bootstrap,
            region=region,
            credential_provider=AwsCredentialsProvider.new_delegate(current),
            tls_mode=S3RequestTlsMode.ENABLED if tls else S3RequestTlsMode.DISABLED,
            tls_connection_options=_trusting(os.environ.get("AWS_CA_BUNDLE")) if tls else None,
            retry_config=S3RetryConfig(retry_mode=S3RetryMode.NONE),
        )

    def send(
        self,
        crt: S3Client,
        model: OperationModel,
        url: SplitResult,
        params: dict[str, Any],
        deadline_s: float,
    ) -> tuple[AWSResponse, dict[str, Any]] | None:
        headers = HttpHeaders([(name, str(value)) for name, value in params["headers"].items()])
        headers.set("Host", url.netloc)
        headers.set("Content-Length", "0")
        answer = _Answer()
        try:
            request = crt.make_request(
                type=S3RequestType.DEFAULT,
                operation_name=model.name,
                request=HttpRequest(params["method"], url.path or "/", headers),
                on_headers=answer.on_headers,
                on_body=answer.on_body,
            )
        except Exception as exc:  # nothing was sent
            log.warning("the CRT refused CopyObject %s (%s); botocore sends it", url.path, exc)
            return None
        try:
            request.finished_future.result(timeout=deadline_s)
        except S3ResponseError as refused:
            if refused.status_code not in SETTLED_REFUSALS:
                return self._hand_over(refused.status_code)
            answer = _Answer(refused.status_code, list(refused.headers), [refused.body or b""])
        except FutureTimeout:
            request.cancel()
            log.warning("CopyObject %s took over %.0f s; botocore sends it", url.path, deadline_s)
            return None
        except Exception as exc:
            log.debug("CopyObject %s failed in the CRT (%s); botocore sends it", url.path, exc)
            # The CRT reports S3's SlowDown by its own error, without the answer.
            throttled = getattr(exc, "name", None) == "AWS_ERROR_S3_SLOW_DOWN"
            return self._hand_over(503 if throttled else None)
        try:
            response, parsed = self._parsed(params["url"], model, answer)
        except Exception as exc:  # a body botocore would take for a server error and retry
            log.debug("CopyObject %s answered unreadably (%s); botocore sends it", url.path, exc)
            return self._hand_over(None)
        if answer.status < 300 and not parsed.get("CopyObjectResult", {}).get("ETag"):
            # A success without its result (a body cut short, or not framed for the CRT): the
            # copy is not known to be made, so botocore sends it again.
            return self._hand_over(None)
        return response, parsed

    def _hand_over(self, status: int | None) -> tuple[AWSResponse, dict[str, Any]] | None:
        """After a failed attempt (``status`` None: no answer), wait as botocore waits before
        a retry, and answer nothing: botocore then sends the request."""
        self._sleep(first_retry_delay_s(status, self._random()))
        return None

    def _parsed(
        self, url: str, model: OperationModel, answer: _Answer
    ) -> tuple[AWSResponse, dict[str, Any]]:
        headers = HTTPHeaders.from_pairs(answer.headers)
        response = AWSResponse(url, answer.status, headers, _Raw(b"".join(answer.body)))
        assert model.output_shape is not None  # CopyObject has an output
        parsed: dict[str, Any] = self._parser.parse(
            convert_to_response_dict(response, model), model.output_shape
        )
        metadata = parsed.setdefault("ResponseMetadata", {})
        metadata.update(
            HTTPStatusCode=answer.status,
            HTTPHeaders={name.lower(): value for name, value in response.headers.items()},
            RetryAttempts=0,
        )
        return response, parsed


def sender(
    native: NativeCopies | None, client: Boto3S3Client, size: int
) -> Callable[..., CopyObjectOutputTypeDef]:
    """What sends the CopyObject of an object of ``size`` bytes: the CRT for a small object
    when there is a ``native`` route, else botocore."""
    if native is None or size > NATIVE_COPY_MAX_BYTES:
        return client.copy_object
    return partial(native.copy_object, client)
