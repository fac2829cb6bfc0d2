"""What the direct path's component tests share: clients of a moto server or of a stub, told
apart from botocore's own sends, and a stub endpoint that answers as each test says.

Which side sent a request is told by botocore's ``before-send`` event, which botocore emits only
for requests it sends itself. The first two copies of a shape are botocore's, watched; the
direct path sends the later ones.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal

import boto3
from botocore.config import Config
from botocore.credentials import Credentials

from copier.direct_copies import DirectCopies

# What a stub answers a request: status and body, and headers, or None for silence.
Answer = tuple[int, bytes] | tuple[int, bytes, dict[str, str]] | None

SOURCE, DESTINATION = "source", "destination"
LEARNT = 2  # copies of a shape botocore sends before the direct path takes it


def bare_client(endpoint: str, **options: Any) -> Any:
    """A client of ``endpoint`` made with ``options`` alone (botocore's defaults else)."""
    return boto3.client(
        "s3",
        region_name="us-east-1",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        **options,
    )


def client(
    endpoint: str,
    attempts: int = 2,
    read_timeout_s: float = 60,
    mode: Literal["standard", "adaptive"] = "standard",
) -> Any:
    config = Config(
        retries={"mode": mode, "total_max_attempts": attempts}, read_timeout=read_timeout_s
    )
    return bare_client(endpoint, config=config)


def botocore_sends(s3: Any) -> list[str]:
    sent: list[str] = []
    s3.meta.events.register("before-send.s3", lambda request, **_: sent.append(request.url))
    return sent


def attached(s3: Any, direct: DirectCopies) -> Any:
    direct.attach(s3, Credentials("testing", "testing"))
    return s3


class Stub(http.server.ThreadingHTTPServer):
    """An endpoint that answers each request as ``answer(index)`` says and counts them."""

    def __init__(self, answer: Callable[[int], Answer]) -> None:
        self.answer = answer
        self.requests: list[str] = []
        self.release = threading.Event()
        super().__init__(("127.0.0.1", 0), StubHandler)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class StubHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Stub

    def do_PUT(self) -> None:
        self.server.requests.append(self.path)
        answer = self.server.answer(len(self.server.requests) - 1)
        if answer is None:  # silence, until the test ends
            self.server.release.wait(30)
            self.close_connection = True
            return
        status, body, *more = answer
        self.send_response(status)
        for name, value in (more[0] if more else {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


@contextmanager
def stubs() -> Iterator[Callable[[Callable[[int], Answer]], Stub]]:
    """Starts stubs (``make(answer)``), each stopped when the block ends."""
    made: list[Stub] = []

    def make(answer: Callable[[int], Answer]) -> Stub:
        stub = Stub(answer)
        # A short poll: shutdown() waits for the loop to look.
        threading.Thread(target=stub.serve_forever, args=(0.05,), daemon=True).start()
        made.append(stub)
        return stub

    yield make
    for stub in made:
        stub.release.set()
        stub.shutdown()
        stub.server_close()


SLOW_DOWN = (503, b"<Error><Code>SlowDown</Code><Message>Reduce your rate</Message></Error>")
COPIED = (
    200,
    b"<CopyObjectResult><ETag>&quot;abc&quot;</ETag>"
    b"<LastModified>2026-01-01T00:00:00.000Z</LastModified></CopyObjectResult>",
)


REDIRECT = (
    301,
    b"<Error><Code>PermanentRedirect</Code><Message>elsewhere</Message></Error>",
)


def on_stub(
    stub: Stub,
    direct: DirectCopies,
    attempts: int = 2,
    mode: Literal["standard", "adaptive"] = "standard",
    read_timeout_s: float = 60,
) -> Any:
    """A client of the stub whose shape (``Bucket=DESTINATION``) is learnt: the stub's first
    ``LEARNT`` requests are botocore's, and the next one is the direct path's."""
    made = client(stub.endpoint, attempts=attempts, read_timeout_s=read_timeout_s, mode=mode)
    s3 = attached(made, direct)
    for n in range(LEARNT):
        direct.copy_object(s3, Bucket=DESTINATION, Key=f"learnt-{n}", CopySource=f"source/{n}")
    return s3


def after_learning(then: Callable[[int], Answer]) -> Callable[[int], Any]:
    return lambda index: COPIED if index < LEARNT else then(index - LEARNT)
