"""`s3migrator dashboard`: the dashboard page and its API on 127.0.0.1, against any stack.

The same routes as behind the progress function's URL (``progress.api``) answer here: each
HTTP request becomes a function-URL event and the routes run in this process, with the user's
own credentials (profile, region, ``AWS_ENDPOINT_URL``), so what a job message says and who
sent it are checked by the coordinator as for any client of the jobs queue. The server binds
only to loopback, and answers only requests addressed to it by that name (a page of another
site that makes a browser resolve its own name to 127.0.0.1 is refused).
"""

from __future__ import annotations

import threading
import uuid
import webbrowser
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from progress.api import app
from progress.process import Progress, build_progress
from s3migrator.cli.exit_codes import ExitCode

if TYPE_CHECKING:
    from s3migrator.cli.context import Context
    from s3migrator.cli.parser import Commands

LOOPBACK = "127.0.0.1"
_MAX_BODY = 256 * 1024  # a job message is a few KiB


@dataclass(frozen=True)
class _Invocation:
    """What a route may ask of the Lambda context it runs in."""

    function_name: str = "s3migrator-dashboard"
    aws_request_id: str = ""


class DashboardServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, progress: Progress, port: int = 0) -> None:
        super().__init__((LOOPBACK, port), _Handler)
        self.progress = progress
        # The routes' app keeps one request's context at a time.
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.server_address[1]}/"

    def answer(self, event: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            app.context["progress"] = self.progress
            invocation: Any = _Invocation(aws_request_id=uuid.uuid4().hex)
            answer: dict[str, Any] = app.resolve(event, invocation)
            return answer


class _Handler(BaseHTTPRequestHandler):
    server: DashboardServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        port = self.server.server_address[1]
        if self.headers.get("Host") not in (f"{LOOPBACK}:{port}", f"localhost:{port}"):
            self._send(421, {"Content-Type": "text/plain"}, "not addressed to this server")
            return
        declared = self.headers.get("Content-Length") or "0"
        if not (declared.isascii() and declared.isdigit()) or self.headers.get("Transfer-Encoding"):
            self._send(400, {"Content-Type": "text/plain"}, "a body needs its Content-Length")
            return
        length = int(declared)
        if length > _MAX_BODY:
            self._send(413, {"Content-Type": "text/plain"}, "request too large")
            return
        body = self.rfile.read(length).decode("utf-8", "replace") if length else None
        answer = self.server.answer(function_url_event(self.command, self.path, self.headers, body))
        headers = dict(answer.get("headers") or {})
        self._send(int(answer["statusCode"]), headers, answer.get("body") or "")

    def _send(self, status: int, headers: dict[str, Any], body: str) -> None:
        data = body.encode("utf-8")
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() != "content-length":
                self.send_header(name, str(value))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the page polls every few seconds: no line per request


def function_url_event(method: str, target: str, headers: Any, body: str | None) -> dict[str, Any]:
    """The event a Lambda function URL would hand the function for this request."""
    parts = urlsplit(target)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    event: dict[str, Any] = {
        "version": "2.0",
        "rawPath": parts.path,
        "rawQueryString": parts.query,
        "headers": {name.lower(): value for name, value in headers.items()},
        "requestContext": {
            "http": {"method": method, "path": parts.path, "protocol": "HTTP/1.1"},
            "requestId": uuid.uuid4().hex,
            "stage": "$default",
        },
        "isBase64Encoded": False,
    }
    if query:
        event["queryStringParameters"] = query
    if body is not None:
        event["body"] = body
    return event


def dashboard_command(context: Context) -> int:
    progress = build_progress(context.settings, context.aws, context.resources)
    server = DashboardServer(progress, context.args.port)
    context.console.print(f"dashboard: {server.url} (Ctrl-C stops it)")
    if context.args.open:
        webbrowser.open(server.url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return ExitCode.OK


def register(commands: Commands) -> None:
    dashboard = commands.add(
        "dashboard",
        help="serve the dashboard (jobs, progress, failures, a form to start one) on 127.0.0.1",
        description=(
            "The dashboard page and its API, on 127.0.0.1 only, against the stack (--stack),\n"
            "with your own AWS credentials: the same page the progress function serves behind\n"
            "its URL. It shows every job with its progress bar, objects and bytes, rate and\n"
            "time left, queue depth and dead letters, and each failed object's reason; its form\n"
            "starts a copy or a migration, and its buttons cancel a migration or redrive a job."
        ),
        examples=["s3migrator dashboard", "s3migrator dashboard --stack prod --port 8765 --open"],
        handler=dashboard_command,
    )
    dashboard.add_argument(
        "--port", type=int, default=8765, help="the loopback port (0: any free one)"
    )
    dashboard.add_argument("--open", action="store_true", help="open it in the web browser")
