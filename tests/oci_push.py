#!/usr/bin/env python3
"""Builds a small OCI image and pushes it to a registry over the OCI
distribution API (no Docker needed), for the tests that need images in a
real registry (Debian's docker-registry on loopback).

  oci_push.py REGISTRY REPOSITORY TAG [--content TEXT] [--created RFC3339]
              [--platforms os/arch[/variant],...] [--annotation k=v ...]
              [--layer FILE ...] [--config JSON] [--size-lie N] [--user USER:PASSWORD]

The image holds one layer with /content.txt = TEXT (or the --layer files); the same arguments make
the same bytes, so the same digest (pushing them under a second tag is a
re-tag). With --platforms the tag names an OCI image index with one image
per platform. Prints the digest of what the tag names.
"""
import argparse
import base64
import gzip
import hashlib
import io
import json
import ssl
import sys
import tarfile
import urllib.request

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


AUTH = {}  # the Authorization header, with --user


# --tls: the registry's certificate is the test's own, not checked.
TLS = ssl.create_default_context()
TLS.check_hostname = False
TLS.verify_mode = ssl.CERT_NONE


def request(method, url, data=None, headers=None):
    req = urllib.request.Request(url, data=data, method=method, headers={**AUTH, **(headers or {})})
    with urllib.request.urlopen(req, timeout=30, context=TLS) as resp:
        return resp.status, dict(resp.headers), resp.read()


def push_blob(base, repo, data):
    d = digest(data)
    _, headers, _ = request("POST", f"{base}/v2/{repo}/blobs/uploads/", b"")
    location = headers["Location"]
    if location.startswith("/"):
        location = base + location
    sep = "&" if "?" in location else "?"
    request("PUT", f"{location}{sep}digest={d}", data,
            {"Content-Type": "application/octet-stream"})
    return d


def layer(content: str) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        body = content.encode()
        info = tarfile.TarInfo("content.txt")
        info.size, info.mtime, info.mode = len(body), 0, 0o644
        tar.addfile(info, io.BytesIO(body))
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def layer_type(data: bytes):
    """The OCI media type and diff id of a layer file: gzip, zstd or a plain tar."""
    if data[:2] == b"\x1f\x8b":
        return "application/vnd.oci.image.layer.v1.tar+gzip", digest(gzip.decompress(data))
    if data[:4] == b"\x28\xb5\x2f\xfd":  # no zstd in Python's library: diff id not checked
        return "application/vnd.oci.image.layer.v1.tar+zstd", digest(data)
    return "application/vnd.oci.image.layer.v1.tar", digest(data)


def image(base, repo, content, created, os_, arch, variant, annotations, layer_files=(),
          run_config=None, size_lie=0):
    blobs = [open(f, "rb").read() for f in layer_files] or [layer(content)]
    layers, diff_ids = [], []
    for data in blobs:
        media_type, diff_id = layer_type(data)
        layers.append({"mediaType": media_type, "digest": push_blob(base, repo, data),
                       "size": len(data)})
        diff_ids.append(diff_id)
    layers[0]["size"] += size_lie
    config = {"architecture": arch, "os": os_, "created": created,
              "config": run_config or {}, "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    if variant:
        config["variant"] = variant
    config_bytes = json.dumps(config, sort_keys=True).encode()
    manifest = {
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": push_blob(base, repo, config_bytes), "size": len(config_bytes)},
        "layers": layers,
    }
    if annotations:
        manifest["annotations"] = annotations
    return json.dumps(manifest, sort_keys=True).encode()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("registry")
    p.add_argument("repository")
    p.add_argument("tag")
    p.add_argument("--content", default="hello")
    p.add_argument("--created", default="2026-01-01T00:00:00Z")
    p.add_argument("--platforms", default="")
    p.add_argument("--annotation", action="append", default=[])
    p.add_argument("--unlabelled", action="store_true",
                   help="with --platforms: index entries name no platform (their configs do)")
    p.add_argument("--layer", action="append", default=[],
                   help="a layer file (tar, tar.gz or tar.zst), base first; repeatable")
    p.add_argument("--config", default="",
                   help="the image config's config object as JSON (Entrypoint, Cmd, Env, ...)")
    p.add_argument("--size-lie", type=int, default=0,
                   help="add this to the first layer's size in the manifest")
    p.add_argument("--user", default="", help="USER:PASSWORD for a registry with basic auth")
    p.add_argument("--tls", action="store_true", help="the registry speaks HTTPS")
    a = p.parse_args()
    if a.user:
        AUTH["Authorization"] = "Basic " + base64.b64encode(a.user.encode()).decode()
    run_config = json.loads(a.config) if a.config else None
    base = ("https://" if a.tls else "http://") + a.registry
    annotations = dict(kv.split("=", 1) for kv in a.annotation)
    if a.platforms:
        manifests = []
        for plat in a.platforms.split(","):
            os_, arch, *rest = plat.split("/")
            variant = rest[0] if rest else ""
            body = image(base, a.repository, f"{a.content} {plat}", a.created, os_, arch,
                         variant, {}, a.layer, run_config, a.size_lie)
            d = digest(body)
            request("PUT", f"{base}/v2/{a.repository}/manifests/{d}", body,
                    {"Content-Type": OCI_MANIFEST})
            platform = {"os": os_, "architecture": arch}
            if variant:
                platform["variant"] = variant
            entry = {"mediaType": OCI_MANIFEST, "digest": d, "size": len(body)}
            if not a.unlabelled:
                entry["platform"] = platform
            manifests.append(entry)
        top = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}
        if annotations:
            top["annotations"] = annotations
        body, media_type = json.dumps(top, sort_keys=True).encode(), OCI_INDEX
    else:
        body = image(base, a.repository, a.content, a.created, "linux", "amd64", "",
                     annotations, a.layer, run_config, a.size_lie)
        media_type = OCI_MANIFEST
    request("PUT", f"{base}/v2/{a.repository}/manifests/{a.tag}", body,
            {"Content-Type": media_type})
    print(digest(body))


if __name__ == "__main__":
    sys.exit(main())
