#!/usr/bin/env bash
# A cold pull and unpack of a ~100 MB image from a registry on loopback:
# `strake image pull` against `skopeo copy` + `umoci unpack --rootless` of
# the same image, in one run (issue 17 §3). The image is made here: one
# gzip layer of files from this machine's /usr/lib/gcc and /usr/share (the
# first ~100 MB of layer), pushed to Debian's docker-registry by
# tests/oci_push.py. Each figure is the median of REPEAT runs (default 3),
# the tools alternating, each into a fresh directory. Prints Markdown.
# Needs docker-registry, skopeo and umoci (scripts/setup.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
STRAKE=${STRAKE:-$PWD/build/strake}
REPEAT=${REPEAT:-3}
MB=${MB:-100}
work=$(mktemp -d /var/tmp/strake-images.XXXXXX)
reg_pid=
cleanup() {
  [ -n "$reg_pid" ] && kill "$reg_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/registry.yml" <<EOF
version: 0.1
log: {level: error}
storage:
  filesystem: {rootdirectory: $work/registry}
http: {addr: 127.0.0.1:$port}
EOF
docker-registry serve "$work/registry.yml" >/dev/null 2>&1 &
reg_pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done

# The layer: files until the compressed layer is about MB megabytes.
python3 - "$work/layer.tar.gz" "$MB" <<'EOF'
import gzip, os, sys, tarfile
out, limit = sys.argv[1], int(sys.argv[2]) << 20
with open(out, "wb") as raw:
    with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for top in ("/usr/lib/gcc", "/usr/share"):
                for root, dirs, files in os.walk(top):
                    dirs.sort()
                    for f in sorted(files):
                        p = os.path.join(root, f)
                        if not os.path.isfile(p) or os.path.islink(p):
                            continue
                        tar.add(p, arcname=p.lstrip("/"), recursive=False)
                        if raw.tell() > limit:
                            sys.exit(0)
EOF
digest=$(python3 tests/oci_push.py "127.0.0.1:$port" bench/big 1 --layer "$work/layer.tar.gz")
layer_mb=$(( $(stat -c %s "$work/layer.tar.gz") >> 20 ))
files=$(tar tzf "$work/layer.tar.gz" | wc -l)

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
seconds() { /usr/bin/time -f "%e" -o "$work/t" "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }; cat "$work/t"; }
: > "$work/s"; : > "$work/k"
for r in $(seq "$REPEAT"); do
  seconds "$STRAKE" --data-dir "$work/strake.$r" image pull "127.0.0.1:$port/bench/big:1" >> "$work/s"
  seconds sh -c "skopeo copy --quiet --src-tls-verify=false docker://127.0.0.1:$port/bench/big:1 oci:$work/oci.$r:1 && umoci unpack --rootless --image $work/oci.$r:1 $work/bundle.$r" >> "$work/k"
done
s=$(median < "$work/s"); k=$(median < "$work/k")
echo "| cold pull + unpack, ${layer_mb} MB layer (gzip), ${files} files | strake image pull | skopeo copy + umoci unpack | ratio |"
echo "|---|---|---|---|"
printf '| %s | %.2f s | %.2f s | %.2fx |\n' "$digest" "$s" "$k" "$(echo "$s / $k" | bc -l)"

# A step's cost in its image: the same 300 one-step tasks in the sandbox on
# the host's programs and in a BusyBox image (this machine's busybox and the
# libraries it loads), pulled once.
python3 - "$work/busybox.tar.gz" <<'EOF2'
import gzip, io, os, subprocess, sys, tarfile
raw = io.BytesIO()
with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
    def add(path, arc):
        t.add(path, arcname=arc, recursive=False)
    add("/usr/bin/busybox", "bin/busybox")
    for app in ("sh", "true"):
        ti = tarfile.TarInfo("bin/" + app); ti.type = tarfile.SYMTYPE; ti.linkname = "busybox"
        t.addfile(ti)
    for line in subprocess.run(["ldd", "/usr/bin/busybox"], capture_output=True, text=True).stdout.splitlines():
        path = next((w for w in line.split() if w.startswith("/")), None)
        if path:
            add(os.path.realpath(path), path.lstrip("/"))
open(sys.argv[1], "wb").write(gzip.compress(raw.getvalue()))
EOF2
python3 tests/oci_push.py "127.0.0.1:$port" bench/busybox 1 --layer "$work/busybox.tar.gz" >/dev/null
python3 bench/gen.py wide 300 "$work/steps"
sed "s|{script: \"true\"}|{image: \"127.0.0.1:$port/bench/busybox:1\", script: \"true\"}|" \
  "$work/steps/pipeline.yaml" > "$work/steps/image.yaml"
: > "$work/h"; : > "$work/i"
for r in $(seq "$REPEAT"); do
  seconds "$STRAKE" --data-dir "$work/steps/host.$r" run -f "$work/steps/pipeline.yaml" --parallel 2 >> "$work/h"
  seconds "$STRAKE" --data-dir "$work/steps/image.$r" run -f "$work/steps/image.yaml" --parallel 2 >> "$work/i"
done
h=$(median < "$work/h"); i=$(median < "$work/i")
printf '\n| 300 one-step tasks, --parallel 2, in the sandbox | host programs | in the image | cost per step (per slot) |\n|---|---|---|---|\n'
printf '| wall time | %.2f s | %.2f s | %.1f ms |\n' "$h" "$i" "$(echo "($i - $h) * 2 * 1000 / 300" | bc -l)"
