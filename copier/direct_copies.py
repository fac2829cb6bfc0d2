"""Small objects' CopyObject sent straight from the copy thread: built from what botocore sent
for copies of the same shape, signed here, sent on the thread's own kept-alive connection.

Why: what bounds a copier's rate on its share of a Fargate vCPU is its CPU per small object,
and nearly all of it was botocore's per-call work (parameter events, endpoint rules,
serializing, signing through request objects, urllib3, retry bookkeeping, parsing), about
1.2 ms a copy where s5cmd spends about 0.5 (`make bench`). Here a copy costs a template's
substitution, one signing pass (``copier.sigv4``), one plain HTTP/1.1 exchange
(``copier.wire``) and one read of the answer (``copier.copy_answers``).

How: the first two copies of each shape (every parameter but the object's key, source and
source ETag the same, ``copier.copy_templates``) are botocore's, watched from a ``before-call``
handler registered after botocore's own; when both give the same template, the shape's later
copies are built from it. The caller gets what botocore would have returned, or the
``ClientError`` it would have raised. Only a success holding the copy's result and a definite
refusal (404, 412) are settled here. Anything else (a connection error, a throttle, a server
error, a denial, a timeout, a success whose body does not hold the result) goes to botocore,
which sends the request itself, with its retry mode and error handling, after the wait its
retry mode makes before a retry (``first_retry_delay_s``); a redirect leaves the shape to
botocore for good. Nothing is retried here, so no request is retried twice over.

Only calls made through ``DirectCopies.copy_object`` go this way, each under a deadline and the
client's own connect and read timeouts, and only shapes botocore signed with plain SigV4 for
``s3`` in the client's region, with no body and no query string, and no proxy in the
environment. HTTPS trusts botocore's CA bundle (``AWS_CA_BUNDLE``, else botocore's default); an
endpoint whose certificate it refuses is left to botocore from then on. Everything else is
botocore's.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
import weakref
from collections.abc import Callable, Hashable
from functools import partial
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import SplitResult, urlsplit

import boto3
from botocore.parsers import RestXMLParser
from botocore.utils import percent_encode

from copier.client_trust import Trust, ca_bundle_of
from copier.copy_answers import CopyAnswers
from copier.copy_templates import (
    UNKNOWN,
    Route,
    Template,
    Templates,
    shape_of,
    source_header,
    template_of,
)
from copier.sigv4 import SigV4
from copier.wire import Answer, CertificateRefused, Connections, NoAnswer
from s3migrator.aws import fast_timestamp

if TYPE_CHECKING:
    from botocore.credentials import Credentials
    from botocore.model import OperationModel
    from mypy_boto3_s3 import S3Client as Boto3S3Client
    from mypy_boto3_s3.type_defs import CopyObjectOutputTypeDef

log = logging.getLogger(__name__)

# Objects up to this size are copied this way; S3 copies them in well under the deadline, which
# bounds how long a thread waits on one request before botocore sends it again.
DIRECT_COPY_MAX_BYTES = 64 * 1024 * 1024
DEADLINE_S = 120.0
# Refusals that another attempt would meet again: botocore's own send could only repeat them.
# Not 403: a signature S3 refused is botocore's to make again.
SETTLED_REFUSALS = frozenset({404, 412})
# Statuses botocore's standard retry mode backs off from as throttles (S3's SlowDown is a 503).
THROTTLES = frozenset({429, 503})
# botocore's cap on how much longer than its own backoff an x-amz-retry-after makes it wait.
RETRY_AFTER_MAX_ADDITIONAL_S = 5.0
# After a throttle, a server error or no answer, every copy is botocore's for this long: its
# retry mode then paces them (the adaptive mode's rate limiter learns only from what botocore
# sends) and spends its retry quota, and no copy costs a failed direct attempt more.
PAUSE_S = 60.0
# A proxy botocore would go through for the scheme: this path would not, so with one set
# botocore sends every request.
_PROXIES = {"http": ("HTTP_PROXY", "http_proxy"), "https": ("HTTPS_PROXY", "https_proxy")}


def first_retry_delay_s(
    status: int | None, draw: float, retry_after_ms: str | None = None
) -> float:
    """How long botocore's standard retry mode waits before its first retry, for a direct
    attempt that failed (``status`` None: no answer): ``draw`` (uniform in [0, 1)) times 1 s
    after a throttle (429, 503), 50 ms after any other failure, raised to the answer's
    ``x-amz-retry-after`` (milliseconds) up to 5 s more. The request then goes to botocore,
    which sends it at once as its first attempt: without this wait, a throttled copy would be
    sent twice back to back."""
    wait_s = draw * (1.0 if status in THROTTLES else 0.05)
    try:
        asked_s = int(retry_after_ms) / 1000 if retry_after_ms is not None else None
    except (ValueError, OverflowError):
        asked_s = None
    if asked_s is None or asked_s < 0:
        return wait_s
    return max(wait_s, min(asked_s, RETRY_AFTER_MAX_ADDITIONAL_S + wait_s))


class _Headers(dict[str, str]):
    """An answer's headers by lowercase name, looked up in any case, as botocore's parser
    looks them up (a light stand-in for ``HTTPHeaders``)."""

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and super().__contains__(name.lower())

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(name.lower())

    def get(self, name: str, default: Any = None) -> Any:
        return super().get(name.lower(), default)


class DirectCopies:
    """CopyObject sent straight from the copy thread, for the clients it is ``attach``-ed to.

    The first two copies of each shape (``shape_of``) are botocore's, watched: what botocore
    sent for them, the object's key and source set aside, is the shape's template, used for the
    shape's later copies once both agree on it. A shape botocore signs otherwise (another
    region, another auth, a body, a query string) keeps going through botocore.

    >>> direct = DirectCopies()
    >>> direct.attach(s3, session.get_credentials())
    >>> direct.copy_object(s3, Bucket="b", Key="k", CopySource="src/k")
    """

    def __init__(
        self,
        deadline_s: float = DEADLINE_S,
        sleep: Callable[[float], None] = time.sleep,
        random: Callable[[], float] = random.random,
        trust: Trust | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._deadline_s = deadline_s
        self._sleep, self._random = sleep, random
        self._parser = RestXMLParser(timestamp_parser=fast_timestamp)
        self._signer = SigV4()
        self._readers: dict[OperationModel, CopyAnswers | Literal[False]] = {}
        self._local = threading.local()
        self._trust = trust or Trust()
        self._connections: dict[str, Connections] = {}
        self._clock = clock
        self._paused_until = 0.0
        # Clients in botocore's adaptive retry mode that were throttled: botocore's for good.
        self._paced: weakref.WeakSet[Any] = weakref.WeakSet()
        self._templates = Templates()
        # Endpoints whose certificate this process refused: botocore's from then on.
        self._refused: set[str] = set()

    def attach(self, client: Boto3S3Client, credentials: Credentials | None) -> None:
        """Let ``copy_object`` calls on ``client`` go directly (never without credentials:
        anonymous requests stay botocore's)."""
        ca_bundle = ca_bundle_of(client)
        if credentials is None or ca_bundle is None:
            return
        # botocore's Config sets its options as attributes of its own (untyped in its stubs).
        config: Any = client.meta.config
        route = Route(
            client.meta.region_name,
            credentials,
            ca_bundle,
            connect_timeout_s=_seconds(config.connect_timeout),
            read_timeout_s=_seconds(config.read_timeout),
        )
        # Last, so that botocore's own handlers have added their headers first; it answers
        # nothing, so botocore sends the request.
        handler: Any = partial(self._watch, route)
        client.meta.events.register_last("before-call.s3.CopyObject", handler)
        if _adaptive(client):
            observer: Any = partial(self._observe, client)
            client.meta.events.register("needs-retry.s3", observer)

    def attach_session(self, client: Boto3S3Client, session: boto3.Session) -> None:
        """``attach`` with the credentials of the session that made ``client``."""
        self.attach(client, session.get_credentials())

    def copy_object(self, client: Boto3S3Client, **params: Any) -> CopyObjectOutputTypeDef:
        """``client.copy_object(**params)``, sent directly once its shape has a template."""
        shape = shape_of(client, params)
        if shape is None:
            return client.copy_object(**params)
        template = self._templates.of(shape)
        if template is UNKNOWN:
            return self._learn(client, shape, params)
        ready = self._clock() >= self._paused_until and client not in self._paced
        if isinstance(template, Template) and ready:
            answer = self._direct(client, shape, template, params)
            if answer is not None:
                return answer
        return client.copy_object(**params)

    def _observe(self, client: Boto3S3Client, response: Any = None, **_: Any) -> None:
        """Told of each answer botocore itself got on an adaptive client: a throttle engages
        its rate limiter, and the client is botocore's for good."""
        if response is not None and getattr(response[0], "status_code", None) in THROTTLES:
            self._paced.add(client)

    def _watch(
        self, route: Route, params: dict[str, Any], context: dict[str, Any], **_: Any
    ) -> None:
        watched = getattr(self._local, "watched", None)
        if watched is not None:
            # The request dict itself: a region redirect rewrites it where it is.
            watched.append((route, params, context))

    def _learn(
        self, client: Boto3S3Client, shape: Hashable, params: dict[str, Any]
    ) -> CopyObjectOutputTypeDef:
        watched: list[tuple[Route, dict[str, Any], dict[str, Any]]] = []
        self._local.watched = watched
        try:
            answer = client.copy_object(**params)
        finally:
            self._local.watched = None
        if len(watched) == 1:
            self._templates.learn(shape, template_of(*watched[0], params, model_of(client)))
        return answer

    def _direct(
        self,
        client: Boto3S3Client,
        shape: Hashable,
        template: Template,
        params: dict[str, Any],
    ) -> CopyObjectOutputTypeDef | None:
        """The copy's answer, or its error raised; None when botocore is to send it."""
        url_text = template.prefix + percent_encode(params["Key"], safe="/~")
        url = urlsplit(url_text)
        if url.netloc in self._refused or _proxied(url.scheme):
            return None
        headers = dict(template.headers)
        headers["x-amz-copy-source"] = source_header(params["CopySource"])
        if params.get("CopySourceIfMatch") is not None:
            headers["x-amz-copy-source-if-match"] = str(params["CopySourceIfMatch"])
        request = self._request(template.route, url, headers)
        if request is None:
            return None
        try:
            route = template.route
            answer = self._connections_for(route).exchange(
                url,
                request,
                self._deadline_s,
                connect_s=route.connect_timeout_s,
                read_s=route.read_timeout_s,
            )
        except CertificateRefused as exc:
            log.warning("%s: certificate refused (%s); botocore sends its copies", url.netloc, exc)
            self._refused.add(url.netloc)
            return None
        except NoAnswer as exc:
            if exc.timed_out:  # the deadline or a timeout was the wait
                log.warning("CopyObject %s: %s; botocore sends it", url.path, exc)
                self._pause()
                return None
            log.debug("CopyObject %s: no answer (%s); botocore sends it", url.path, exc)
            return self._hand_over(None, pause=True)
        if 300 <= answer.status < 400:
            # Redirected: botocore follows redirects, and sends this shape from now on.
            self._templates.leave_to_botocore(shape)
            return None
        if answer.status in THROTTLES and _adaptive(client):
            # botocore's adaptive mode paces a client from its first throttle on, and for
            # good: its limiter learns only from what botocore sends, so botocore sends all.
            self._paced.add(client)
        if answer.status >= 300 and answer.status not in SETTLED_REFUSALS:
            # A denial or a bad request may be this object's alone; the rest is the endpoint's.
            retry_after = dict((k.lower(), v) for k, v in answer.headers).get("x-amz-retry-after")
            return self._hand_over(answer.status, retry_after, pause=answer.status >= 429)
        try:
            parsed = self._parsed(template.model, answer)
        except Exception as exc:  # a body botocore would take for a server error and retry
            log.debug("CopyObject %s answered unreadably (%s); botocore sends it", url.path, exc)
            return self._hand_over(None, pause=True)
        if answer.status >= 300:
            code = parsed.get("Error", {}).get("Code", str(answer.status))
            refusal: Any = client.exceptions.from_code(code)
            raise refusal(parsed, "CopyObject")
        if not parsed.get("CopyObjectResult", {}).get("ETag"):
            # A success without its result (a body cut short, or an error in a 200): the copy
            # is not known to be made, so botocore sends it again.
            return self._hand_over(None, pause=True)
        result: CopyObjectOutputTypeDef = parsed  # type: ignore[assignment]
        return result

    def _request(self, route: Route, url: SplitResult, headers: dict[str, str]) -> bytes | None:
        """The request's bytes, signed; None when it cannot go as botocore would send it
        (a header value that is not one line of Latin-1, or no credentials)."""
        frozen = route.credentials.get_frozen_credentials()
        if not frozen.access_key or not frozen.secret_key:
            return None
        signed = self._signer.signed_headers(
            "PUT",
            url,
            headers,
            region=route.region,
            access_key=frozen.access_key,
            secret_key=frozen.secret_key,
            token=frozen.token,
        )
        lines = [f"PUT {url.path} HTTP/1.1"]
        lines += [f"{name}: {value}" for name, value in signed]
        text = "\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n"
        if text.count("\n") != len(lines) + 2 or "\r" in text.replace("\r\n", ""):
            return None  # a value holding a line break: botocore refuses it as it would
        try:
            return text.encode("latin-1")
        except UnicodeEncodeError:
            return None

    def _hand_over(
        self, status: int | None, retry_after_ms: str | None = None, *, pause: bool = False
    ) -> CopyObjectOutputTypeDef | None:
        """After a failed attempt (``status`` None: no answer), wait as botocore waits before
        a retry, and answer nothing: botocore then sends the request. ``pause``: the endpoint's
        trouble, not the object's (``PAUSE_S``)."""
        if pause:
            self._pause()
        self._sleep(first_retry_delay_s(status, self._random(), retry_after_ms))
        return None

    def _pause(self) -> None:
        self._paused_until = self._clock() + PAUSE_S

    def _connections_for(self, route: Route) -> Connections:
        """The connections that trust what ``route``'s client trusts."""
        connections = self._connections.get(route.ca_bundle)
        if connections is None:
            connections = Connections(self._trust.context(route.ca_bundle))
            connections = self._connections.setdefault(route.ca_bundle, connections)
        return connections

    def _parsed(self, model: OperationModel, answer: Answer) -> dict[str, Any]:
        headers = _Headers((name.lower(), value) for name, value in answer.headers)
        reader = self._readers.get(model)
        if reader is None:
            reader = self._readers[model] = CopyAnswers.of(model) or False
        parsed = reader.read(answer.status, headers, answer.body) if reader else None
        if parsed is None:  # not a plain success: botocore's parser reads it
            assert model.output_shape is not None  # CopyObject has an output
            parsed = self._parser.parse(
                {"status_code": answer.status, "headers": headers, "body": answer.body},
                model.output_shape,
            )
        metadata = parsed.setdefault("ResponseMetadata", {})
        metadata.update(HTTPStatusCode=answer.status, HTTPHeaders=dict(headers), RetryAttempts=0)
        return parsed


def model_of(client: Boto3S3Client) -> OperationModel:
    return client.meta.service_model.operation_model("CopyObject")


def _adaptive(client: Boto3S3Client) -> bool:
    config: Any = client.meta.config
    retries = getattr(config, "retries", None) or {}
    return bool(retries.get("mode") == "adaptive")


def _seconds(timeout: Any) -> float | None:
    """A botocore timeout as seconds; None (botocore's "no timeout") stays None."""
    return None if timeout is None else float(timeout)


def _proxied(scheme: str) -> bool:
    return scheme not in _PROXIES or any(os.environ.get(name) for name in _PROXIES[scheme])


def sender(
    direct: DirectCopies | None, client: Boto3S3Client, size: int
) -> Callable[..., CopyObjectOutputTypeDef]:
    """What sends the CopyObject of an object of ``size`` bytes: this module for a small object
    when there is a ``direct`` route, else botocore."""
    if direct is None or size > DIRECT_COPY_MAX_BYTES:
        return client.copy_object
    return partial(direct.copy_object, client)
