"""A stand-in for the cloud's claim endpoint over HTTPS, for scripts/smoke-router.sh.

    python3 scripts/test-cloud.py CERT KEY ADDRESS PORT LOG

Serves POST /sync/v1/claim with a fixed credential and appends each request it received (the
method, path, Host header and body) to LOG as one JSON line, so the caller can prove that a
client completed the TLS handshake and sent its request. Prints "ready" once listening.
"""

import http.server
import json
import ssl
import sys

cert, key, address, port, log = sys.argv[1:6]

CREDENTIAL = {
    "device_id": "6f1c1d52-3a4b-4c5d-8e9f-0a1b2c3d4e5f",
    "hotspot_id": "5b0e6a3c-2f1d-4c1e-9a8b-7d6c5b4a3f21",
    "token": "smoke-test-token",
}


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with open(log, "a", encoding="utf-8") as f:
            record = {
                "method": "POST",
                "path": self.path,
                "host": self.headers.get("Host"),
                "body": body.decode("utf-8", "replace"),
            }
            f.write(json.dumps(record) + "\n")
        if self.path != "/sync/v1/claim":
            self.send_error(404)
            return
        answer = json.dumps(CREDENTIAL).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format, *args):
        pass


server = http.server.HTTPServer((address, int(port)), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
server.socket = context.wrap_socket(server.socket, server_side=True)
print("ready", flush=True)
server.serve_forever()
