#!/usr/bin/env python3
"""Issue 4's figures on the real server: N Argo CD Applications (default
10,000) from one git repository, each path with its own ConfigMap, on the
local target of `strake serve`.

Reports: the time to sync all of them from nothing; the server's RSS with
all of them synced; the time of a full reconcile of all of them after a
restart (every Application compared again: nothing to change); and, over
TRIALS pushes that each change one Application's manifest, the time from
the webhook's arrival to that Application's sync starting (p50, p99, max,
from the server's own event timestamps).

Usage: bench/gitops_bench.py [N] [TRIALS]   (after scripts/build.sh)
"""
import hashlib
import hmac
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

N = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
TRIALS = int(sys.argv[2]) if len(sys.argv) > 2 else 50
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STRAKE = os.environ.get("STRAKE_BIN", os.path.join(ROOT, "build", "strake"))
SECRET = "bench-secret"


def sh(*cmd, cwd=None):
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


TOKEN = []  # the admin token the server prints at its first start


def call(base, method, path, body=None, headers=None):
    data = body.encode() if isinstance(body, str) else body
    headers = dict(headers or {})
    if TOKEN and not path.startswith("/webhooks/"):
        headers["Authorization"] = "Bearer " + TOKEN[0]
    req = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def metric(base, name, controller):
    _, text = call(base, "GET", "/metrics")
    for line in text.decode().splitlines():
        if line.startswith(f'{name}{{controller="{controller}"}}'):
            return float(line.split()[-1])
    return 0.0


def rss_mib(pid, field="VmRSS:"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1]) / 1024
    return 0


def start_server(data, port):
    out = open(f"{data}.out", "a")
    # The repository is a file:// one: the egress policy refuses those
    # unless told (docs/security.md).
    p = subprocess.Popen([STRAKE, "--data-dir", data, "serve", "--listen",
                          f"127.0.0.1:{port}", "--stop-workloads", "--egress-allow", "file"],
                         stdout=out,
                         stderr=open(os.environ["GITOPS_BENCH_LOG"], "a")
                         if os.environ.get("GITOPS_BENCH_LOG") else subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if call(base, "GET", "/healthz")[0] == 200:
                if not TOKEN:
                    with open(f"{data}.out") as f:
                        for word in f.read().split():
                            if word.startswith("strk_"):
                                TOKEN.append(word)
                return p, base
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit("strake serve did not start")


def synced_count(base):
    _, body = call(base, "GET", "/apis/argoproj.io/v1alpha1/namespaces/default/applications")
    items = json.loads(body)["items"]
    return sum(1 for a in items
               if a.get("status", {}).get("sync", {}).get("status") == "Synced"), items


def main():
    tmp = tempfile.mkdtemp(prefix="strake-gitops-bench-")
    server = None
    try:
        bare, work = f"{tmp}/apps.git", f"{tmp}/work"
        sh("git", "init", "-q", "--bare", "-b", "main", bare)
        sh("git", "init", "-q", "-b", "main", work)
        for i in range(N):
            os.makedirs(f"{work}/apps/app-{i}")
            with open(f"{work}/apps/app-{i}/cm.yaml", "w") as f:
                f.write(f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cm-{i}}}\n"
                        f"data: {{index: \"{i}\", round: \"0\"}}\n")
        sh("git", "add", "-A", cwd=work)
        sh("git", "-c", "user.email=b@b", "-c", "user.name=bench", "commit", "-q", "-m", "apps",
           cwd=work)
        sh("git", "push", "-q", bare, "HEAD:main", cwd=work)
        url = "file://" + bare

        port = free_port()
        server, base = start_server(f"{tmp}/data", port)
        first = (f"apiVersion: v1\nkind: Secret\nmetadata: {{name: hook}}\n"
                 f"stringData: {{secret: {SECRET}}}\n---\n"
                 f"apiVersion: strake.dev/v1\nkind: Repository\nmetadata: {{name: apps}}\n"
                 f"spec: {{url: \"{url}\", pollInterval: 1h, webhookSecretRef: {{name: hook}}}}\n")
        files = []
        for chunk in range(0, N, 500):
            docs = [first] if chunk == 0 else []
            for i in range(chunk, min(N, chunk + 500)):
                docs.append(
                    f"apiVersion: argoproj.io/v1alpha1\nkind: Application\n"
                    f"metadata: {{name: app-{i}}}\nspec:\n"
                    f"  source: {{repoURL: \"{url}\", path: apps/app-{i}, targetRevision: main}}\n"
                    f"  destination: {{name: local}}\n"
                    f"  syncPolicy: {{automated: {{prune: true, selfHeal: true}}}}\n")
            path = f"{tmp}/apps-{chunk}.yaml"
            with open(path, "w") as f:
                f.write("---\n".join(docs))
            files.append(path)
        t0 = time.time()
        procs = [subprocess.Popen([STRAKE, "apply", "-f", p, "--server", base,
                                   "--token", TOKEN[0]],
                                  stdout=subprocess.DEVNULL) for p in files]
        for p in procs:
            if p.wait() != 0:
                raise SystemExit("apply failed")
        applied = time.time() - t0
        deadline = time.time() + 600
        while True:
            n, items = synced_count(base)
            if n == N:
                break
            if time.time() > deadline:
                stuck = next(a for a in items
                             if a.get("status", {}).get("sync", {}).get("status") != "Synced")
                raise SystemExit(f"{N - n} Applications not Synced after 600 s; "
                                 f"{stuck['metadata']['name']}: {stuck.get('status')}")
            time.sleep(1)
        all_synced = time.time() - t0
        # The server gives freed memory back every 5 s (malloc_trim): measured
        # after that, and the peak since start besides.
        time.sleep(6)
        rss = rss_mib(server.pid)
        peak = rss_mib(server.pid, "VmHWM:")
        if os.environ.get("GITOPS_BENCH_DEBUG"):
            with open(f"/proc/{server.pid}/status") as f:
                print("  " + " ".join(l.strip() for l in f if l.startswith(("RssAnon", "RssFile", "Threads"))))
        print(f"applications: {N} from one repository")
        print(f"apply of {N} Applications: {applied:.1f} s; all synced after {all_synced:.1f} s")
        print(f"server RSS with all synced: {rss:.0f} MiB (peak while applying and syncing: "
              f"{peak:.0f} MiB)")

        # A restart: every Application is compared again, nothing changes.
        server.send_signal(signal.SIGTERM)
        server.wait()
        t0 = time.time()
        server, base = start_server(f"{tmp}/data", port)
        while metric(base, "strake_controller_reconciles_total", "applications") < N or \
                metric(base, "strake_controller_queue_depth", "applications") > 0:
            time.sleep(0.02)
        cold = time.time() - t0
        _, body = call(base, "GET", "/apis/strake.dev/v1/events?kind=Application")
        print(f"full reconcile of all {N} after a restart (cold caches, fetch included): "
              f"{cold:.2f} s; RSS after: {rss_mib(server.pid):.0f} MiB")

        # Webhook -> sync started.
        lat = []
        for trial in range(TRIALS):
            k = random.randrange(N)
            with open(f"{work}/apps/app-{k}/cm.yaml", "w") as f:
                f.write(f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cm-{k}}}\n"
                        f"data: {{index: \"{k}\", round: \"{trial + 1}\"}}\n")
            sh("git", "-c", "user.email=b@b", "-c", "user.name=bench", "commit", "-q", "-am",
               f"app-{k} round {trial + 1}", cwd=work)
            sh("git", "push", "-q", bare, "HEAD:main", cwd=work)
            # The store's revision now (a list's resourceVersion; the
            # Repository list is one item): the events asked for below are
            # the few after it. Asking since app-k's own last change would
            # have the server read up to 10,000 changes under its store lock
            # every 5 ms, slowing down what is measured.
            _, listing = call(base, "GET", "/apis/strake.dev/v1/namespaces/default/repositories")
            since = int(json.loads(listing)["metadata"]["resourceVersion"])
            body = json.dumps({"repository": {"url": url}, "ref": "refs/heads/main"})
            sig = "sha256=" + hmac.new(SECRET.encode(), body.encode(), hashlib.sha256).hexdigest()
            sent = time.time() * 1000
            if os.environ.get("GITOPS_BENCH_DEBUG"):
                print(f"  sent {sent:.1f}")
            status, _ = call(base, "POST", "/webhooks/generic", body,
                             {"X-Strake-Signature-256": sig,
                              "X-Strake-Delivery": f"bench-{trial}",
                              "Content-Type": "application/json"})
            assert status == 202, status
            started = None
            deadline = time.time() + 30
            while started is None and time.time() < deadline:
                _, ev = call(base, "GET", f"/apis/strake.dev/v1/events?kind=Application"
                                          f"&name=app-{k}&since={since}")
                for e in json.loads(ev)["items"]:
                    if e["reason"] == "OperationStarted":
                        started = e["timeMs"]
                        break
                else:
                    time.sleep(0.005)
            if started is None:
                raise SystemExit(f"app-{k} did not start a sync")
            lat.append(started - sent)
            if os.environ.get("GITOPS_BENCH_DEBUG"):
                _, ev = call(base, "GET", f"/apis/strake.dev/v1/events?kind=Repository&since={since}")
                fetched = [e["timeMs"] for e in json.loads(ev)["items"] if e["reason"] == "Fetched"]
                print(f"  trial {trial}: fetched +{(fetched[-1] - sent) if fetched else -1:.1f} ms,"
                      f" sync started +{started - sent:.1f} ms")
            # Let the other Applications take the new revision before the next
            # push (they are queued 250 ms later, then compared and written).
            time.sleep(0.3)
            last = -1
            while True:
                done = metric(base, "strake_controller_reconciles_total", "applications")
                depth = metric(base, "strake_controller_queue_depth", "applications")
                if depth == 0 and done == last:
                    break
                last = done
                time.sleep(0.2)
        lat.sort()

        def pct(p):
            return lat[min(len(lat) - 1, int(p * len(lat)))]
        print(f"webhook received -> sync started, {TRIALS} pushes: p50 {pct(0.5):.1f} ms, "
              f"p99 {pct(0.99):.1f} ms, max {lat[-1]:.1f} ms")
    finally:
        if server:
            server.send_signal(signal.SIGTERM)
            server.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
