#!/usr/bin/env python3
"""The example service of strake's tour: answers "hello from VERSION".

Listens on 127.0.0.1:$PORT (the port strake's runtime gives each replica),
HTTP/1.1 with keep-alive. ERROR_RATE (0..1) makes that share of requests
answer 500, to show a bad version being caught by analysis. /healthz is the
readiness probe's endpoint; /commit answers $COMMIT (the commit the
delivery tour deployed). Stops cleanly on SIGTERM.
"""
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = os.environ.get("VERSION", "v1")
ERROR_RATE = float(os.environ.get("ERROR_RATE", "0"))
counter = 0
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        global counter
        if self.path == "/healthz":
            return self.reply(200, "ok\n")
        if self.path == "/commit":
            return self.reply(200, os.environ.get("COMMIT", "") + "\n")
        with lock:
            counter += 1
            n = counter
        # Deterministic share of errors: every request whose running share
        # of failures is below ERROR_RATE fails.
        if ERROR_RATE > 0 and int(n * ERROR_RATE) != int((n - 1) * ERROR_RATE):
            return self.reply(500, f"error from {VERSION}\n")
        self.reply(200, f"hello from {VERSION}\n")

    def reply(self, code, body):
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):
        pass


def main():
    port = int(os.environ["PORT"])
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"{VERSION} listening on 127.0.0.1:{port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
