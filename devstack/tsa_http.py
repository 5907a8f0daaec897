"""RFC 3161 over HTTP for OpenSSL's `ts -reply`: POST a TimeStampReq (application/timestamp-query), get the
TimeStampResp (application/timestamp-reply). Usage: python -m devstack.tsa_http PORT OPENSSL CONFIG."""

import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def make_handler(openssl: str, config: str) -> type[BaseHTTPRequestHandler]:
    serial = threading.Lock()  # OpenSSL keeps the serial number in a file: one reply at a time

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            query = self.rfile.read(length)
            with tempfile.TemporaryDirectory(prefix="eakte-tsa-") as tmp:
                request, reply = Path(tmp) / "request.tsq", Path(tmp) / "reply.tsr"
                request.write_bytes(query)
                argv = [openssl, "ts", "-reply", "-config", config, "-queryfile", str(request), "-out", str(reply)]
                with serial:
                    done = subprocess.run(argv, capture_output=True, check=False)
                body = reply.read_bytes() if done.returncode == 0 and reply.exists() else b""
            if not body:
                self.send_error(400, "bad time-stamp request")
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


def main() -> None:
    port, openssl, config = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    ThreadingHTTPServer(("127.0.0.1", port), make_handler(openssl, config)).serve_forever()


if __name__ == "__main__":
    main()
