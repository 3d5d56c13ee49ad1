"""The example service's tests: what the pipeline's `test` task runs, under
Python's own line tracer (python3 -m trace) for the coverage that the
staging and prod gates read."""
import http.client
import os
import threading
import unittest
from http.server import HTTPServer

import server


class ServerTest(unittest.TestCase):
    # The server handles each request on this thread (the tracer follows
    # it), the client asks from another.
    def get(self, path, error_rate=0.0):
        server.ERROR_RATE = error_rate
        httpd = HTTPServer(("127.0.0.1", 0), server.Handler)
        self.addCleanup(httpd.server_close)
        got = {}

        def client():
            c = http.client.HTTPConnection("127.0.0.1", httpd.server_address[1], timeout=5)
            c.request("GET", path)
            r = c.getresponse()
            got["answer"] = (r.status, r.read().decode())
            c.close()

        t = threading.Thread(target=client)
        t.start()
        httpd.handle_request()
        t.join()
        return got["answer"]

    def test_answers_with_its_version(self):
        self.assertEqual(self.get("/"), (200, f"hello from {server.VERSION}\n"))

    def test_health(self):
        self.assertEqual(self.get("/healthz"), (200, "ok\n"))

    def test_commit(self):
        os.environ["COMMIT"] = "abc123"
        self.assertEqual(self.get("/commit"), (200, "abc123\n"))

    def test_error_rate_fails_that_share(self):
        server.counter = 0
        codes = [self.get("/", error_rate=0.5)[0] for _ in range(4)]
        self.assertEqual(codes.count(500), 2)


if __name__ == "__main__":
    unittest.main()
