"""The HTTP endpoint: every request forwarded byte for byte to moto, except Lambda's Invoke.

Routing is a pure function of method and path. CreateFunction and UpdateFunctionCode are
forwarded too, after their zip (and who sent it) is handed to `capture_code`; Invoke goes to
`invoke`, which may answer None to let moto answer instead (a function it does not know, say).
Every request's IAM action, with who signed it, goes to `observe`.
"""

from __future__ import annotations

import http.client
import re
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from lambdafan.local_cloud.role_audit import action_of, needs_body

CHUNK = 64 * 1024
# Not forwarded either way: they describe one hop, not the message.
HOP_HEADERS = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "upgrade"}
)
_FUNCTION = r"/2015-03-31/functions/(?P<name>[^/]+)"
_INVOKE = re.compile(rf"{_FUNCTION}/invocations")
_UPDATE_CODE = re.compile(rf"{_FUNCTION}/code")
_CREATE = "/2015-03-31/functions"


@dataclass(frozen=True)
class Route:
    kind: str  # "invoke", "create", "update-code" or "forward"
    function: str | None = None


def route(method: str, path: str) -> Route:
    """Which of the proxy's jobs a request is (path without the query)."""
    if method == "POST" and (match := _INVOKE.fullmatch(path)):
        return Route("invoke", urllib.parse.unquote(match["name"]))
    if method == "POST" and path.rstrip("/") == _CREATE:
        return Route("create")
    if method == "PUT" and (match := _UPDATE_CODE.fullmatch(path)):
        return Route("update-code", urllib.parse.unquote(match["name"]))
    return Route("forward")


@dataclass(frozen=True)
class Caller:
    """Who signed a request: the access key and region of its SigV4 scope, its session token."""

    access_key_id: str | None
    region: str | None
    session_token: str | None

    @classmethod
    def from_headers(cls, authorization: str, session_token: str | None) -> Caller:
        scope = authorization.partition("Credential=")[2].split(",")[0].split("/")
        key = scope[0] or None if scope else None
        region = scope[2] if len(scope) > 2 else None
        return cls(key, region, session_token)


@dataclass(frozen=True)
class InvokeRequest:
    function: str
    qualifier: str | None
    invocation_type: str  # RequestResponse, Event or DryRun
    log_type: str | None
    payload: bytes
    caller: Caller


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


class Proxy:
    """A ThreadingHTTPServer on 127.0.0.1 in front of `upstream` (moto's server URL)."""

    def __init__(
        self,
        upstream: str,
        *,
        invoke: Callable[[InvokeRequest], Reply | None],
        capture_code: Callable[[bytes, bool, Caller], None],
        observe: Callable[[Caller, str | None], None] | None = None,
        port: int = 0,
    ) -> None:
        parsed = urllib.parse.urlsplit(upstream)
        if parsed.hostname is None:
            raise ValueError(f"{upstream!r} is not an http://host:port URL")
        self._upstream_host = parsed.hostname
        self._upstream_port = parsed.port or 80
        self._invoke = invoke
        self._capture_code = capture_code
        self._observe = observe
        self._server = _QuietServer(("127.0.0.1", port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # how long stop() waits for the loop to notice
            name="local-cloud-proxy",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(_Handler):
            owner = proxy

        return Handler


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        # A client gone mid-reply, or the cloud shutting down: the caller sees its own error
        # (a closed connection, a 502); a traceback per request here would drown the terminal.
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as boto3's connection pool expects
    owner: Proxy

    def log_message(self, format: str, *args: object) -> None:
        pass  # one line per AWS call would drown the invocation log

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        split = urllib.parse.urlsplit(self.path)
        target = route(self.command, split.path)
        caller = Caller.from_headers(
            self.headers.get("Authorization", ""), self.headers.get("X-Amz-Security-Token")
        )
        if target.kind == "forward":
            # Most bodies stream through unread; a query-protocol call names its action there.
            read = self.owner._observe is not None and needs_body(split.query, self.headers)
            body = self._read_body() if read else None
            self._report(caller, split, body)
            self._forward(body=body)
            return
        body = self._read_body()
        self._report(caller, split, body)
        if target.kind in ("create", "update-code"):
            self.owner._capture_code(body, target.kind == "create", caller)
            self._forward(body=body)
            return
        assert target.function is not None
        query = urllib.parse.parse_qs(split.query)
        request = InvokeRequest(
            function=target.function,
            qualifier=query.get("Qualifier", [None])[0],
            invocation_type=self.headers.get("X-Amz-Invocation-Type") or "RequestResponse",
            log_type=self.headers.get("X-Amz-Log-Type"),
            payload=body,
            caller=caller,
        )
        reply = self.owner._invoke(request)
        if reply is None:
            self._forward(body=body)
        else:
            self._reply(reply)

    def _report(self, caller: Caller, split: urllib.parse.SplitResult, body: bytes | None) -> None:
        if self.owner._observe is not None:
            action = action_of(self.command, split.path, split.query, self.headers, body)
            self.owner._observe(caller, action)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _reply(self, reply: Reply) -> None:
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    def _forward(self, body: bytes | None) -> None:
        """Send this request to moto as it came (streaming its body unless already read)."""
        upstream = http.client.HTTPConnection(
            self.owner._upstream_host, self.owner._upstream_port, timeout=300
        )
        try:
            try:
                upstream.putrequest(
                    self.command, self.path, skip_host=True, skip_accept_encoding=True
                )
                for name, value in self.headers.items():
                    if name.lower() not in HOP_HEADERS:
                        upstream.putheader(name, value)
                upstream.endheaders()
                if body is not None:
                    upstream.send(body)
                else:
                    self._stream_request_body(upstream)
                response = upstream.getresponse()
            except (OSError, http.client.HTTPException) as exc:
                # moto is gone (shutting down) or broke the connection: a gateway's answer.
                self.close_connection = True
                self._reply(Reply(502, f"local cloud: moto did not answer: {exc}".encode()))
                return
            self._relay(response)
        finally:
            upstream.close()

    def _stream_request_body(self, upstream: http.client.HTTPConnection) -> None:
        left = int(self.headers.get("Content-Length") or 0)
        while left > 0:
            chunk = self.rfile.read(min(CHUNK, left))
            if not chunk:
                break
            upstream.send(chunk)
            left -= len(chunk)

    def _relay(self, response: http.client.HTTPResponse) -> None:
        self.send_response_only(response.status, response.reason)
        length = response.getheader("Content-Length")
        for name, value in response.getheaders():
            if name.lower() not in HOP_HEADERS:
                self.send_header(name, value)
        if length is None and self.command != "HEAD":
            # Unknown length: the body ends when this connection closes.
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command == "HEAD":
            return
        while chunk := response.read(CHUNK):
            self.wfile.write(chunk)
