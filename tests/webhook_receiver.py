"""A local webhook receiver for alert tests and the drift drill: keeps every POST, can fail the first few."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class WebhookReceiver:
    """Listens on a free loopback port (`url`); answers 500 to the first `failures` posts, then 200."""

    def __init__(self, failures: int = 0):
        self.failures = failures
        self.posts: list[tuple[dict, bytes]] = []  # every post: its headers and raw body
        self.accepted: list[tuple[dict, bytes]] = []  # the posts answered 200
        self.arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.arrived:
                    receiver.posts.append((dict(self.headers), body))
                    ok = len(receiver.posts) > receiver.failures
                    if ok:
                        receiver.accepted.append((dict(self.headers), body))
                    receiver.arrived.notify_all()
                self.send_response(200 if ok else 500)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, n: int, timeout: float) -> list[tuple[dict, bytes]]:
        """The accepted posts once there are `n` of them, or those that arrived within `timeout` seconds."""
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.accepted) >= n, timeout)
            return list(self.accepted)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
