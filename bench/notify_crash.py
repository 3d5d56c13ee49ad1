#!/usr/bin/env python3
"""Notifications, exactly once, under kill -9 (issue 15 §3's bench).

  bench/notify_crash.py [--events 10000] [--kills 3] [--strake build/strake]

Starts `strake serve` on a fresh data directory, a webhook receiver of its
own on loopback, and Argo CD Notifications' settings that send one webhook
per change of a Stage's object (`on-updated`, a trigger without `when`:
one notification per event, as Argo Rollouts' are). Then it writes --events
changes (merge patches of the Stages' annotations, spread over 10 Stages),
and, from another thread, kills the server with SIGKILL --kills times along
the way (at moments no write waits for), starting it again on the same
data directory each time. A change counts once its write
was acknowledged (HTTP 200); a write the dying server never answered is
tried again, as a client would.

It reports: changes acknowledged, notifications received (distinct delivery
ids), lost (acknowledged changes with no notification), sent again (the
same delivery id received twice: what a receiver deduplicates), and the
latency from the change's commit (the event's time, which the template
sends) to its arrival: p50, p99, max.
"""
import argparse
import http.server
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

RECEIVED = []  # (delivery id, body, arrival time)
LOCK = threading.Lock()


class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with LOCK:
            RECEIVED.append((self.headers.get("X-Strake-Delivery", ""), body, time.time()))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, strake, data, port):
        self.strake, self.data, self.port = strake, data, port
        self.proc, self.token = None, None

    def start(self):
        log = open(os.path.join(self.data, "..", "serve.log"), "a")
        self.proc = subprocess.Popen(
            [self.strake, "--data-dir", self.data, "serve", "--listen", f"127.0.0.1:{self.port}",
             "--egress-allow", "loopback", "--stop-workloads"],
            stdout=log, stderr=subprocess.STDOUT, env={k: v for k, v in os.environ.items()
                                                       if not k.startswith("STRAKE_")})
        deadline = time.time() + 60
        while time.time() < deadline:
            text = open(os.path.join(self.data, "..", "serve.log")).read()
            if self.token is None and "strk_" in text:
                self.token = next(w for w in text.split() if w.startswith("strk_"))
            if text.count("serving on") >= self.starts + 1:
                self.starts += 1
                return
            time.sleep(0.05)
        sys.exit("strake serve did not start: " + text[-2000:])

    starts = 0

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def call(self, method, path, body=None, ctype="application/json"):
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": f"Bearer {self.token}",
                                              "Content-Type": ctype})
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()


SETTINGS = """apiVersion: v1
kind: ConfigMap
metadata: {{name: argocd-notifications-cm, namespace: bench}}
data:
  service.webhook.hook: |
    url: http://127.0.0.1:{hook}/
  trigger.on-updated: |
    - send: [changed]
  subscriptions: |
    - recipients: [hook]
      triggers: [on-updated]
  template.changed: |
    webhook:
      hook:
        method: POST
        body: '{{"stage": "{{{{.stage.metadata.name}}}}", "revision": {{{{.event.revision}}}}, "time": "{{{{.event.time}}}}"}}'
"""

STAGE = """apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata: {{name: s{i}, namespace: bench}}
spec:
  requestedFreight:
  - origin: {{kind: Warehouse, name: none}}
    sources: {{direct: true}}
"""


def rfc3339_seconds(text):
    # "2026-12-07T10:00:00.123Z"
    import datetime
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--events", type=int, default=10000)
    p.add_argument("--kills", type=int, default=3)
    p.add_argument("--strake", default=os.path.join(os.path.dirname(__file__), "..", "build",
                                                    "strake"))
    a = p.parse_args()
    work = tempfile.mkdtemp(prefix="strake-notify-bench-")
    data = os.path.join(work, "data")
    os.makedirs(data)
    hook_port = free_port()
    hook = http.server.ThreadingHTTPServer(("127.0.0.1", hook_port), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    server = Server(os.path.abspath(a.strake), data, free_port())
    server.start()
    objects = os.path.join(work, "objects.yaml")
    with open(objects, "w") as f:
        f.write(SETTINGS.format(hook=hook_port) + "---\n" +
                "---\n".join(STAGE.format(i=i) for i in range(10)))
    apply = subprocess.run(
        [a.strake, "--data-dir", data, "apply", "-f", objects, "--server",
         f"http://127.0.0.1:{server.port}"],
        text=True, capture_output=True, env={**os.environ, "STRAKE_TOKEN": server.token})
    if apply.returncode != 0:
        sys.exit("apply failed: " + apply.stdout + apply.stderr)
    acknowledged = set()  # the revisions of the changes the server acknowledged
    started = time.time()
    progress = [0]

    # kill -9 at moments no write waits for: while changes are written and
    # notifications are being decided and sent.
    def killer():
        rng = random.Random(7)
        for k in range(a.kills):
            while progress[0] < a.events * (k + 1) // (a.kills + 1):
                time.sleep(0.01)
            time.sleep(rng.uniform(0, 0.05))
            server.kill()
            server.start()

    kills = threading.Thread(target=killer)
    kills.start()
    for i in range(a.events):
        progress[0] = i
        patch = {"metadata": {"annotations": {"bench/seq": str(i)}}}
        while True:
            try:
                status, body = server.call("PATCH",
                                           f"/apis/kargo.akuity.io/v1alpha1/namespaces/bench/"
                                           f"stages/s{i % 10}", patch,
                                           "application/merge-patch+json")
                if status == 200:
                    acknowledged.add(int(json.loads(body)["metadata"]["resourceVersion"]))
                    break
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.1)
    progress[0] = a.events
    kills.join()
    wrote = time.time() - started
    deadline = time.time() + 300
    while time.time() < deadline:
        with LOCK:
            seen = {json.loads(body)["revision"] for _, body, _ in RECEIVED}
        if acknowledged <= seen:
            break
        time.sleep(0.2)
    time.sleep(2)  # anything sent again arrives
    with LOCK:
        got = list(RECEIVED)
    by_id = {}
    latencies = []
    revisions = set()
    for d, body, at in got:
        first = d not in by_id
        by_id[d] = by_id.get(d, 0) + 1
        doc = json.loads(body)
        revisions.add(doc["revision"])
        if first:
            latencies.append(at - rfc3339_seconds(doc["time"]))
    latencies.sort()
    pct = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000
    server.kill()
    hook.shutdown()
    lost = acknowledged - revisions
    print(f"changes acknowledged   {len(acknowledged)} (written in {wrote:.1f} s, "
          f"{a.kills} kill -9s)")
    print(f"notifications received {len(by_id)} distinct delivery ids, {len(revisions)} events "
          f"({len(revisions - acknowledged)} of changes not acknowledged: the Stages' making, "
          f"writes a dying server made but never answered)")
    print(f"lost                   {len(lost)}")
    print(f"sent again (same id)   {sum(n - 1 for n in by_id.values())}")
    print(f"latency event->receive p50 {pct(0.5):.0f} ms, p99 {pct(0.99):.0f} ms, "
          f"max {latencies[-1] * 1000:.0f} ms")
    shutil.rmtree(work, ignore_errors=True)
    return 0 if not lost else 1


if __name__ == "__main__":
    sys.exit(main())
