#!/usr/bin/env python3
"""The example app: answers / and /up with the release it runs from.

Started from `current` by the restart command (restart.sh); the release
name it prints is the directory it runs in, so `[health] expect_release`
proves that the new code answers. Listens on the host's own address."""
import http.server
import os
import socketserver
import sys

RELEASE = os.path.basename(os.getcwd())


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = f"release {RELEASE}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


if __name__ == "__main__":
    Server((sys.argv[1], int(sys.argv[2])), Handler).serve_forever()
