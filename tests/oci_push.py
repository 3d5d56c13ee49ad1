#!/usr/bin/env python3
"""Builds a small OCI image and pushes it to a registry over the OCI
distribution API (no Docker needed), for the tests that need images in a
real registry (Debian's docker-registry on loopback).

  oci_push.py REGISTRY REPOSITORY TAG [--content TEXT] [--created RFC3339]
              [--platforms os/arch[/variant],...] [--annotation k=v ...]

The image holds one layer with /content.txt = TEXT; the same arguments make
the same bytes, so the same digest (pushing them under a second tag is a
re-tag). With --platforms the tag names an OCI image index with one image
per platform. Prints the digest of what the tag names.
"""
import argparse
import gzip
import hashlib
import io
import json
import sys
import tarfile
import urllib.request

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def request(method, url, data=None, headers=None):
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    with urllib.request.urlopen(req, timeout=30) as resp:
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


def image(base, repo, content, created, os_, arch, variant, annotations):
    tar_gz = layer(content)
    diff_id = digest(gzip.decompress(tar_gz))
    config = {"architecture": arch, "os": os_, "created": created,
              "config": {}, "rootfs": {"type": "layers", "diff_ids": [diff_id]}}
    if variant:
        config["variant"] = variant
    config_bytes = json.dumps(config, sort_keys=True).encode()
    manifest = {
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": push_blob(base, repo, config_bytes), "size": len(config_bytes)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": push_blob(base, repo, tar_gz), "size": len(tar_gz)}],
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
    a = p.parse_args()
    base = "http://" + a.registry
    annotations = dict(kv.split("=", 1) for kv in a.annotation)
    if a.platforms:
        manifests = []
        for plat in a.platforms.split(","):
            os_, arch, *rest = plat.split("/")
            variant = rest[0] if rest else ""
            body = image(base, a.repository, f"{a.content} {plat}", a.created, os_, arch,
                         variant, {})
            d = digest(body)
            request("PUT", f"{base}/v2/{a.repository}/manifests/{d}", body,
                    {"Content-Type": OCI_MANIFEST})
            platform = {"os": os_, "architecture": arch}
            if variant:
                platform["variant"] = variant
            manifests.append({"mediaType": OCI_MANIFEST, "digest": d, "size": len(body),
                              "platform": platform})
        top = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}
        if annotations:
            top["annotations"] = annotations
        body, media_type = json.dumps(top, sort_keys=True).encode(), OCI_INDEX
    else:
        body = image(base, a.repository, a.content, a.created, "linux", "amd64", "",
                     annotations)
        media_type = OCI_MANIFEST
    request("PUT", f"{base}/v2/{a.repository}/manifests/{a.tag}", body,
            {"Content-Type": media_type})
    print(digest(body))


if __name__ == "__main__":
    sys.exit(main())
