#!/usr/bin/env python3
# Writes the generated seed corpora: corpus/image_archive (docker-archive and OCI layout
# tars, plain and gzip) and corpus/tar_apply_overlay (layers with whiteouts and opaque
# directories). Deterministic: run it again and the files are the same.
#   python3 tests/fuzz/make_seeds.py tests/fuzz/corpus
import gzip, hashlib, io, json, os, sys, tarfile

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus")


def tar_bytes(members):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, kind, data in members:
            info = tarfile.TarInfo(name)
            info.mtime = 0
            if kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                t.addfile(info)
            elif kind == "sym":
                info.type, info.linkname = tarfile.SYMTYPE, data
                t.addfile(info)
            elif kind == "link":
                info.type, info.linkname = tarfile.LNKTYPE, data
                t.addfile(info)
            else:
                info.size, info.mode = len(data), 0o644
                t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def gz(data):
    return gzip.compress(data, mtime=0)


def sha(data):
    return hashlib.sha256(data).hexdigest()


def write(sub, name, data):
    os.makedirs(os.path.join(out, sub), exist_ok=True)
    with open(os.path.join(out, sub, name), "wb") as f:
        f.write(data)


layer = tar_bytes([("etc", "dir", None), ("etc/hostname", "file", b"seed\n"),
                   ("bin", "dir", None), ("bin/sh", "file", b"#!/bin/true\n"),
                   ("bin/ash", "link", "bin/sh"), ("usr", "sym", "/")])
config = json.dumps({"architecture": "amd64", "os": "linux",
                     "rootfs": {"type": "layers", "diff_ids": ["sha256:" + sha(layer)]},
                     "config": {"Cmd": ["sh"]}}, separators=(",", ":")).encode()

# docker-archive, as `docker save` writes it.
docker = tar_bytes([
    ("manifest.json", "file", json.dumps([{"Config": sha(config) + ".json",
                                           "RepoTags": ["seed:latest"],
                                           "Layers": [sha(layer) + "/layer.tar"]}]).encode()),
    ("repositories", "file", json.dumps({"seed": {"latest": sha(layer)}}).encode()),
    (sha(config) + ".json", "file", config),
    (sha(layer), "dir", None),
    (sha(layer) + "/layer.tar", "file", layer),
])
write("image_archive", "docker.tar", docker)
write("image_archive", "docker.tar.gz", gz(docker))

# OCI layout, gzip layer.
glayer = gz(layer)
manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                  "digest": "sha256:" + sha(config), "size": len(config)},
                       "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                                   "digest": "sha256:" + sha(glayer), "size": len(glayer)}]},
                      separators=(",", ":")).encode()
index = json.dumps({"schemaVersion": 2, "manifests": [
    {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + sha(manifest),
     "size": len(manifest), "annotations": {"org.opencontainers.image.ref.name": "seed:latest"}}]},
    separators=(",", ":")).encode()
oci = tar_bytes([
    ("oci-layout", "file", b'{"imageLayoutVersion":"1.0.0"}'),
    ("index.json", "file", index),
    ("blobs", "dir", None), ("blobs/sha256", "dir", None),
    ("blobs/sha256/" + sha(config), "file", config),
    ("blobs/sha256/" + sha(manifest), "file", manifest),
    ("blobs/sha256/" + sha(glayer), "file", glayer),
])
write("image_archive", "oci.tar", oci)

# Overlay-mode layers: a whiteout, an opaque directory, a symlinked parent.
write("tar_apply_overlay", "whiteouts.tar", tar_bytes([
    ("etc", "dir", None), ("etc/.wh.passwd", "file", b""), ("var", "dir", None),
    ("var/.wh..wh..opq", "file", b""), ("var/new", "file", b"x")]))
write("tar_apply_overlay", "symlink-parent.tar", tar_bytes([
    ("lib", "sym", "usr/lib"), ("usr", "dir", None), ("usr/lib", "dir", None),
    ("lib/libc.so", "file", b"elf"), ("up", "sym", ".."), ("up/escape", "file", b"no")]))
write("tar_apply_overlay", "layer.tar.gz", gz(layer))
