#!/usr/bin/env python3
"""Stand-in model host for the downloader tests (stdlib only).

Usage: download_server.py FOLDER
Serves the files in FOLDER on 127.0.0.1 at a free port, printed as the first line of stdout, and
exits as soon as stdin closes (so a test that dies never leaves it running).

Routes (NAME is a file in FOLDER):
  /files/NAME       the file, with Range support (206 + Content-Range, 416 past the end)
  /drop/NAME        first request: headers for the whole body, half of it, then the connection closes;
                    later requests behave like /files/NAME
  /corrupt/NAME     bytes of the same length that differ from the file (every byte inverted)
  /redirect/NAME    302 to /files/NAME
  /drive?id=NAME    Google-Drive-style "can't scan for viruses" page with a confirm <form>
  /drive-old?id=NAME  older Drive page with a "/drive-download?...&confirm=XXXX" link
  /drive-download?id=NAME&export=download&confirm=...   the file once confirmed, else 400
  /html/NAME        200 text/html page without any confirm form
  /refuse/NAME      403 with an HTML body
  /log              one line per request so far: "PATH RANGE-HEADER"
"""
import os
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".")
LOCK = threading.Lock()
LOG = []
DROPPED = set()

CONFIRM_PAGE = """<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title></head><body>
<div class="uc-main"><p class="uc-warning-subcaption">Google Drive can't scan this file for viruses.</p>
<form id="download-form" action="/drive-download" method="get">
<input type="submit" id="uc-download-link" class="goog-inline-block jfk-button" value="Download anyway"/>
<input type="hidden" name="id" value="{name}"><input type="hidden" name="export" value="download">
<input type="hidden" name="confirm" value="t"><input type="hidden" name="uuid" value="0b7c-uuid-1234">
</form></div></body></html>"""

OLD_CONFIRM_PAGE = """<html><body><p>Google Drive can't scan this file for viruses.</p>
<a id="uc-download-link" href="/drive-download?export=download&amp;confirm=Zx9q&amp;id={name}">Download anyway</a>
</body></html>"""


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep the test output quiet
        pass

    def send_body(self, status, body, content_type="text/html; charset=utf-8", headers=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in headers:
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def read_file(self, name):
        path = os.path.join(ROOT, os.path.basename(name))
        if not name or not os.path.isfile(path):
            return None
        with open(path, "rb") as f:
            return f.read()

    def serve(self, data, drop=False):
        """Sends data honouring a `Range: bytes=N-[M]` header; with drop, only half, then closes."""
        total, start, end, status = len(data), 0, len(data) - 1, 200
        header = self.headers.get("Range")
        if header and header.startswith("bytes="):
            first, _, last = header[6:].partition("-")
            start = int(first or 0)
            end = min(int(last), total - 1) if last else total - 1
            if start >= total:
                self.send_body(416, b"", headers=[("Content-Range", f"bytes */{total}")])
                return
            status = 206
        body = data[start:end + 1]
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{total}")
        self.end_headers()
        if drop:
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        parts = url.path.strip("/").split("/", 1)
        route, name = parts[0], (parts[1] if len(parts) > 1 else query.get("id", ""))
        with LOCK:
            if route != "log":
                LOG.append(f"{self.path} {self.headers.get('Range', '-')}")
            first_drop = route == "drop" and name not in DROPPED
            if first_drop:
                DROPPED.add(name)
        if route == "log":
            with LOCK:
                text = "".join(line + "\n" for line in LOG)
            return self.send_body(200, text.encode(), "text/plain; charset=utf-8")
        if route == "refuse":
            return self.send_body(403, b"<html><body><h1>403 Forbidden</h1>Sign in to continue.</body></html>")
        data = self.read_file(name)
        if data is None:
            return self.send_body(404, b"<html><body>Not found</body></html>")
        if route in ("files", "drop"):
            return self.serve(data, drop=first_drop)
        if route == "corrupt":
            return self.serve(data.translate(bytes(range(255, -1, -1))))
        if route == "redirect":
            return self.send_body(302, b"", headers=[("Location", f"/files/{name}")])
        if route == "drive":
            return self.send_body(200, CONFIRM_PAGE.format(name=name).encode())
        if route == "drive-old":
            return self.send_body(200, OLD_CONFIRM_PAGE.format(name=name).encode())
        if route == "drive-download":
            if query.get("export") == "download" and query.get("confirm"):
                return self.serve(data)
            return self.send_body(400, b"<html><body>Bad request</body></html>")
        if route == "html":
            return self.send_body(200, b"<html><body><p>Sign in to see this file.</p></body></html>")
        return self.send_body(404, b"<html><body>Unknown route</body></html>")


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(server.server_address[1], flush=True)
    sys.stdin.read()  # returns when stdin closes
    os._exit(0)


if __name__ == "__main__":
    main()
