"""tests/fakes/loopback.py: what every fake outside party shares: an HTTP server on a free
loopback port, served from a daemon thread, with the test's start/stop and access keys.

A fake subclasses LoopbackFake, calls LoopbackFake.__init__(self) after setting the state its
handler reads, and implements _handler() -> a BaseHTTPRequestHandler class."""

import threading
from http.server import ThreadingHTTPServer


def write_answer(handler, status, content_type, data, headers=()):
    """Writes one whole HTTP answer on a BaseHTTPRequestHandler; a caller that gave up (a
    hang after apply, a timeout) is no error of the fake's."""
    try:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)
    except (BrokenPipeError, ConnectionResetError):
        pass


class LoopbackFake:
    def __init__(self):
        self.keys = getattr(self, "keys", {})   # AccessKeyId -> secret
        self.lock = getattr(self, "lock", None) or threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.host = "127.0.0.1:%d" % self.port
        self.url = "http://%s/" % self.host
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)

    def _handler(self):
        raise NotImplementedError

    # -- the test's controls --
    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def add_key(self, access_key_id, secret):
        self.keys[access_key_id] = secret
