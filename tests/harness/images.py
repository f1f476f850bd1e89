# -*- coding: utf-8 -*-
"""Fixture images: OCI layouts built by hand in Python, pushed to a real registry by skopeo.

So the engine is tested on what a peer wrote. Layouts are cached in a :class:`LayoutCache`
(one per session in the fixtures); pushing is cheap.

Image helpers (each returns a :class:`PushedImage`):
  push_oci_image, push_docker_image, push_oci_index, push_docker_manifest_list,
  push_zstd_image, push_whiteout_image, push_large_image, push_layers (raw tar layers).
"""

from __future__ import annotations

import atexit
import gzip
import hashlib
import io
import json
import os
import random
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List, Optional, Sequence

from .registry import Registry

BUSYBOX = "/bin/busybox"
SKOPEO = "skopeo"
SKOPEO_TIMEOUT = 300
EPOCH = 1700000000  # fixed mtime: layers are reproducible
CREATED = "2023-11-14T22:13:20Z"

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
REF_NAME = "org.opencontainers.image.ref.name"

BUSYBOX_APPLETS = ("sh", "ls", "cat", "echo", "true", "false", "sleep", "id", "env", "test")


# ---------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------
@dataclass
class PushedImage:
    """What the registry serves for a pushed image."""

    ref: str  # HOST/REPO:TAG
    host: str
    repo: str
    tag: str
    digest: str  # manifest digest, sha256 of the bytes the registry serves
    media_type: str
    layers: List[str]  # layer digests; for an index/list, all children's layers
    config: Optional[str] = None  # config digest (None for an index/list)
    manifest: bytes = b""  # the raw manifest as served
    platform: Optional[Dict[str, str]] = None  # for a child of an index
    children: List["PushedImage"] = field(default_factory=list)  # for an index/list
    expected: Dict[str, object] = field(default_factory=dict)  # what unpacking must give

    @property
    def by_digest(self) -> str:
        """``HOST/REPO@sha256:...``."""
        return "%s/%s@%s" % (self.host, self.repo, self.digest)

    def child(self, architecture: str) -> "PushedImage":
        """The child of an index/list for ``architecture``."""
        for c in self.children:
            if c.platform and c.platform.get("architecture") == architecture:
                return c
        raise KeyError(architecture)


@dataclass
class LayoutImage:
    """An image written into an OCI layout by :func:`write_image`."""

    layout: str
    tag: str
    digest: str
    media_type: str
    config: Optional[str]
    layers: List[str]
    diff_ids: List[str]
    platform: Optional[Dict[str, str]] = None
    children: List["LayoutImage"] = field(default_factory=list)


# ---------------------------------------------------------------------------
# tar layers
# ---------------------------------------------------------------------------
@dataclass
class Entry:
    """One tar entry. ``kind``: file, dir, symlink, hardlink, char, fifo."""

    path: str
    kind: str = "file"
    data: bytes = b""
    mode: int = 0o644
    target: str = ""  # symlink / hardlink target
    uid: int = 0
    gid: int = 0
    devmajor: int = 0
    devminor: int = 0


_TYPES = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
          "hardlink": tarfile.LNKTYPE, "char": tarfile.CHRTYPE, "fifo": tarfile.FIFOTYPE}


def tar_layer(entries: Iterable[Entry]) -> bytes:
    """Uncompressed tar bytes of ``entries``, in the given order, with fixed mtimes."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for e in entries:
            info = tarfile.TarInfo(e.path)
            info.type = _TYPES[e.kind]
            info.mode = e.mode
            info.mtime = EPOCH
            info.uid, info.gid = e.uid, e.gid
            info.uname = info.gname = "root" if e.uid == 0 else ""
            if e.kind in ("symlink", "hardlink"):
                info.linkname = e.target
            if e.kind == "char":
                info.devmajor, info.devminor = e.devmajor, e.devminor
            if e.kind == "file":
                info.size = len(e.data)
                tar.addfile(info, io.BytesIO(e.data))
            else:
                tar.addfile(info)
    return buf.getvalue()


def busybox_entries() -> List[Entry]:
    """A minimal runnable root: busybox-static, applet symlinks, passwd/group, /tmp."""
    with open(BUSYBOX, "rb") as f:
        busybox = f.read()
    entries = [Entry("bin/", "dir", mode=0o755), Entry("bin/busybox", data=busybox, mode=0o755)]
    entries += [Entry("bin/" + a, "symlink", target="busybox", mode=0o777) for a in BUSYBOX_APPLETS]
    entries += [
        Entry("etc/", "dir", mode=0o755),
        Entry("etc/passwd", data=b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"),
        Entry("etc/group", data=b"root:x:0:\nnogroup:x:65534:\n"),
        Entry("root/", "dir", mode=0o700),
        Entry("tmp/", "dir", mode=0o1777),
        Entry("usr/", "dir", mode=0o755),
        Entry("usr/bin/", "dir", mode=0o755),
        Entry("usr/bin/env", "symlink", target="../../bin/busybox", mode=0o777),
    ]
    return entries


def marker_entries(name: str, arch: str) -> List[Entry]:
    """A tiny layer that says which fixture this is."""
    return [Entry("etc/", "dir", mode=0o755),
            Entry("etc/undock-fixture", data=("name=%s\narch=%s\n" % (name, arch)).encode())]


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------
# OCI layouts
# ---------------------------------------------------------------------------
def _init_layout(layout: str) -> None:
    os.makedirs(os.path.join(layout, "blobs", "sha256"), exist_ok=True)
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    if not os.path.exists(os.path.join(layout, "index.json")):
        with open(os.path.join(layout, "index.json"), "w") as f:
            json.dump({"schemaVersion": 2, "manifests": []}, f)


def _put_blob(layout: str, data: bytes) -> str:
    digest = _digest(data)
    path = os.path.join(layout, "blobs", "sha256", digest.split(":", 1)[1])
    if not os.path.exists(path):
        with open(path, "wb") as f:
            f.write(data)
    return digest


def _tag(layout: str, tag: str, desc: dict) -> None:
    path = os.path.join(layout, "index.json")
    with open(path) as f:
        index = json.load(f)
    index["manifests"] = [m for m in index["manifests"]
                          if m.get("annotations", {}).get(REF_NAME) != tag]
    d = dict(desc)
    d["annotations"] = {REF_NAME: tag}
    index["manifests"].append(d)
    with open(path, "w") as f:
        json.dump(index, f)


def write_image(layout: str, layers: Sequence[bytes], arch: str = "amd64", *,
                tag: Optional[str] = "latest", os_name: str = "linux",
                variant: Optional[str] = None, compress: str = "gzip", gzip_level: int = 6,
                config_extra: Optional[dict] = None) -> LayoutImage:
    """Write an OCI image manifest with ``layers`` (uncompressed tars) into ``layout``.

    ``compress`` is ``gzip`` or ``none``. ``tag`` None writes the blobs without tagging
    (for children of an index).
    """
    _init_layout(layout)
    layer_descs, diff_ids = [], []
    for raw in layers:
        diff_ids.append(_digest(raw))
        if compress == "gzip":
            blob, mt = gzip.compress(raw, compresslevel=gzip_level, mtime=0), OCI_LAYER_GZIP
        elif compress == "none":
            blob, mt = raw, OCI_LAYER_TAR
        else:
            raise ValueError(compress)
        layer_descs.append({"mediaType": mt, "digest": _put_blob(layout, blob), "size": len(blob)})
    config: dict = {
        "created": CREATED,
        "architecture": arch,
        "os": os_name,
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                   "Cmd": ["/bin/sh"], "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": CREATED, "created_by": "undock test harness layer %d" % i}
                    for i in range(len(layers))],
    }
    if variant:
        config["variant"] = variant
    if config_extra:
        config["config"].update(config_extra)
    cfg_bytes = json.dumps(config, sort_keys=True).encode()
    cfg_desc = {"mediaType": OCI_CONFIG, "digest": _put_blob(layout, cfg_bytes),
                "size": len(cfg_bytes)}
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": cfg_desc,
                "layers": layer_descs}
    mbytes = json.dumps(manifest, sort_keys=True).encode()
    desc = {"mediaType": OCI_MANIFEST, "digest": _put_blob(layout, mbytes), "size": len(mbytes)}
    platform = {"architecture": arch, "os": os_name}
    if variant:
        platform["variant"] = variant
    if tag is not None:
        _tag(layout, tag, desc)
    return LayoutImage(layout, tag or "", desc["digest"], OCI_MANIFEST, cfg_desc["digest"],
                       [d["digest"] for d in layer_descs], diff_ids, platform)


def write_index(layout: str, images: Sequence[LayoutImage], tag: str = "latest") -> LayoutImage:
    """Write an OCI image index over ``images`` (already in ``layout``) and tag it."""
    manifests = []
    for img in images:
        path = os.path.join(layout, "blobs", "sha256", img.digest.split(":", 1)[1])
        manifests.append({"mediaType": img.media_type, "digest": img.digest,
                          "size": os.path.getsize(path), "platform": img.platform})
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}
    ibytes = json.dumps(index, sort_keys=True).encode()
    desc = {"mediaType": OCI_INDEX, "digest": _put_blob(layout, ibytes), "size": len(ibytes)}
    _tag(layout, tag, desc)
    layers = [d for img in images for d in img.layers]
    return LayoutImage(layout, tag, desc["digest"], OCI_INDEX, None, layers, [],
                       children=list(images))


class LayoutCache:
    """Built OCI layouts under ``root``, keyed by name; each is built once."""

    def __init__(self, root: str) -> None:
        self.root = root
        os.makedirs(root, exist_ok=True)
        self._built: Dict[str, LayoutImage] = {}

    def get(self, name: str, build: Callable[[str], LayoutImage]) -> LayoutImage:
        """Return the layout ``name``, calling ``build(layout_dir)`` the first time."""
        if name not in self._built:
            layout = os.path.join(self.root, name)
            shutil.rmtree(layout, ignore_errors=True)
            self._built[name] = build(layout)
        return self._built[name]


_DEFAULT_CACHE: Optional[LayoutCache] = None


def default_cache() -> LayoutCache:
    """A process-wide cache in a temporary directory removed at exit."""
    global _DEFAULT_CACHE
    if _DEFAULT_CACHE is None:
        root = tempfile.mkdtemp(prefix="undock-layouts-")
        atexit.register(shutil.rmtree, root, True)
        _DEFAULT_CACHE = LayoutCache(root)
    return _DEFAULT_CACHE


# ---------------------------------------------------------------------------
# skopeo
# ---------------------------------------------------------------------------
_SKOPEO_ENV_DIR: Optional[str] = None


def _skopeo_env() -> Dict[str, str]:
    """Environment isolating skopeo from the user's auth.json and policy."""
    global _SKOPEO_ENV_DIR
    if _SKOPEO_ENV_DIR is None:
        _SKOPEO_ENV_DIR = tempfile.mkdtemp(prefix="undock-skopeo-")
        atexit.register(shutil.rmtree, _SKOPEO_ENV_DIR, True)
        with open(os.path.join(_SKOPEO_ENV_DIR, "auth.json"), "w") as f:
            json.dump({"auths": {}}, f)
        with open(os.path.join(_SKOPEO_ENV_DIR, "policy.json"), "w") as f:
            json.dump({"default": [{"type": "insecureAcceptAnything"}]}, f)
    env = dict(os.environ)
    env["REGISTRY_AUTH_FILE"] = os.path.join(_SKOPEO_ENV_DIR, "auth.json")
    return env


def skopeo_flags(registry: Registry, side: str = "") -> List[str]:
    """TLS and credential flags for ``registry``; ``side`` is ``src``, ``dest`` or ``""``."""
    p = "--%s-" % side if side else "--"
    flags = []
    if registry.tls and registry.selfsigned:
        flags.append(p + "tls-verify=false")  # nothing to verify it against
    elif registry.tls:
        assert registry.pki is not None
        cert_dir = registry.pki.client_cert_dir if registry.client_auth else registry.pki.cert_dir
        flags += [p + "tls-verify=true", p + "cert-dir=" + cert_dir]
    else:
        flags.append(p + "tls-verify=false")
    if registry.username:
        flags.append(p + "creds=%s:%s" % (registry.username, registry.password))
    return flags


def run_skopeo(args: Sequence[str], timeout: float = SKOPEO_TIMEOUT,
               check: bool = True) -> subprocess.CompletedProcess:
    """Run ``skopeo ARGS`` with a private policy and auth file; raise with stderr on failure."""
    assert _skopeo_env()  # creates the private files
    cmd = [SKOPEO, "--policy", os.path.join(str(_SKOPEO_ENV_DIR), "policy.json")] + list(args)
    proc = subprocess.run(cmd, capture_output=True, timeout=timeout, env=_skopeo_env(),
                          stdin=subprocess.DEVNULL)
    if check and proc.returncode != 0:
        raise RuntimeError("skopeo failed (%d): %s\n%s" % (
            proc.returncode, " ".join(cmd), proc.stderr.decode("utf-8", "replace")))
    return proc


def copy_layout(registry: Registry, image: LayoutImage, repo: str, tag: str = "latest",
                extra: Sequence[str] = ()) -> PushedImage:
    """``skopeo copy oci:LAYOUT:TAG docker://HOST/REPO:TAG`` plus ``extra`` flags."""
    src = "oci:%s:%s" % (image.layout, image.tag)
    dest = "docker://%s/%s:%s" % (registry.host, repo, tag)
    run_skopeo(["copy", "--quiet"] + skopeo_flags(registry, "dest") + list(extra) + [src, dest])
    return describe(registry, repo, tag)


def describe(registry: Registry, repo: str, ref: str) -> PushedImage:
    """Read what the registry serves for REPO:REF (Accept: all four types) into a PushedImage."""
    status, headers, body = registry.get_manifest(repo, ref)
    if status != 200:
        raise RuntimeError("GET manifest %s:%s -> %d %r" % (repo, ref, status, body[:300]))
    digest = _digest(body)
    served = headers.get("docker-content-digest")
    if served and served != digest:
        raise RuntimeError("registry digest %s != sha256 of body %s" % (served, digest))
    doc = json.loads(body)
    media_type = doc.get("mediaType") or headers.get("content-type", "")
    tag = ref if not ref.startswith("sha256:") else ""
    ref_str = "%s/%s:%s" % (registry.host, repo, tag) if tag else "%s/%s@%s" % (
        registry.host, repo, ref)
    img = PushedImage(ref=ref_str, host=registry.host, repo=repo, tag=tag, digest=digest,
                      media_type=media_type, layers=[], manifest=body)
    if "manifests" in doc:
        for m in doc["manifests"]:
            child = describe(registry, repo, m["digest"])
            child.platform = m.get("platform")
            img.children.append(child)
            img.layers.extend(child.layers)
    else:
        img.config = doc["config"]["digest"]
        img.layers = [layer["digest"] for layer in doc["layers"]]
    return img


# ---------------------------------------------------------------------------
# the fixture images
# ---------------------------------------------------------------------------
def _simple(name: str, arch: str = "amd64") -> Callable[[str], LayoutImage]:
    def build(layout: str) -> LayoutImage:
        return write_image(layout, [tar_layer(busybox_entries()),
                                    tar_layer(marker_entries(name, arch))], arch)
    return build


def _multi(name: str) -> Callable[[str], LayoutImage]:
    def build(layout: str) -> LayoutImage:
        base = tar_layer(busybox_entries())
        children = [write_image(layout, [base, tar_layer(marker_entries(name, arch))], arch,
                                tag=None, variant=variant)
                    for arch, variant in (("amd64", None), ("arm64", "v8"))]
        return write_index(layout, children)
    return build


def _expect_simple(name: str, arch: str = "amd64") -> Dict[str, object]:
    return {"files": {"/etc/undock-fixture": ("name=%s\narch=%s\n" % (name, arch)).encode()},
            "symlinks": {"/bin/sh": "busybox"}, "architecture": arch}


def push_oci_image(registry: Registry, repo: str = "fixtures/oci", tag: str = "latest",
                   cache: Optional[LayoutCache] = None) -> PushedImage:
    """(a) An OCI image manifest: busybox layer + marker layer, amd64."""
    layout = (cache or default_cache()).get("oci", _simple("oci"))
    img = copy_layout(registry, layout, repo, tag)
    img.expected = _expect_simple("oci")
    return img


def push_docker_image(registry: Registry, repo: str = "fixtures/docker", tag: str = "latest",
                      cache: Optional[LayoutCache] = None) -> PushedImage:
    """(b) A Docker v2 schema 2 image (``skopeo copy --format v2s2``)."""
    layout = (cache or default_cache()).get("docker", _simple("docker"))
    img = copy_layout(registry, layout, repo, tag, ["--format", "v2s2"])
    img.expected = _expect_simple("docker")
    return img


def push_oci_index(registry: Registry, repo: str = "fixtures/index", tag: str = "latest",
                   cache: Optional[LayoutCache] = None) -> PushedImage:
    """(c) An OCI image index with linux/amd64 and linux/arm64/v8 (``skopeo copy --all``)."""
    layout = (cache or default_cache()).get("index", _multi("index"))
    img = copy_layout(registry, layout, repo, tag, ["--all"])
    img.expected = {"architectures": ["amd64", "arm64"]}
    return img


def push_docker_manifest_list(registry: Registry, repo: str = "fixtures/list",
                              tag: str = "latest",
                              cache: Optional[LayoutCache] = None) -> PushedImage:
    """(d) A Docker manifest list with amd64 and arm64/v8 (``--all --format v2s2``)."""
    layout = (cache or default_cache()).get("list", _multi("list"))
    img = copy_layout(registry, layout, repo, tag, ["--all", "--format", "v2s2"])
    if img.media_type != DOCKER_LIST:
        raise RuntimeError("expected a Docker manifest list, registry serves %s" % img.media_type)
    img.expected = {"architectures": ["amd64", "arm64"]}
    return img


def push_zstd_image(registry: Registry, repo: str = "fixtures/zstd", tag: str = "latest",
                    cache: Optional[LayoutCache] = None) -> PushedImage:
    """(e) An OCI image whose layers skopeo recompressed to zstd."""
    def build(layout: str) -> LayoutImage:
        # The base layer must not be shared with other fixtures: skopeo 1.9.3 reuses a gzip
        # blob that already exists in the destination registry instead of recompressing it.
        base = busybox_entries() + [Entry("etc/undock-zstd-base", data=b"zstd\n")]
        return write_image(layout, [tar_layer(base), tar_layer(marker_entries("zstd", "amd64"))])

    layout = (cache or default_cache()).get("zstd", build)
    img = copy_layout(registry, layout, repo, tag, ["--dest-compress-format", "zstd"])
    types = [layer["mediaType"] for layer in json.loads(img.manifest)["layers"]]
    if any(t != OCI_LAYER_ZSTD for t in types):
        raise RuntimeError("skopeo did not push zstd layers: %s" % types)
    img.expected = _expect_simple("zstd")
    return img


WHITEOUT_EXPECTED = {
    "present": ["/data/keep.txt", "/opaque/new.txt", "/bin/sh", "/data/sub/"],
    "absent": ["/data/gone.txt", "/data/gonedir", "/opaque/old1.txt", "/opaque/sub",
               "/data/.wh.gone.txt", "/opaque/.wh..wh..opq"],
    "files": {"/data/keep.txt": b"keep\n", "/opaque/new.txt": b"new\n",
              "/data/sub/file.txt": b"sub\n"},
}


def _whiteout_build(layout: str) -> LayoutImage:
    l1 = [Entry("data/", "dir", mode=0o755),
          Entry("data/keep.txt", data=b"keep\n"),
          Entry("data/gone.txt", data=b"gone\n"),
          Entry("data/gonedir/", "dir", mode=0o755),
          Entry("data/gonedir/inner.txt", data=b"inner\n"),
          Entry("data/sub/", "dir", mode=0o755),
          Entry("data/sub/file.txt", data=b"sub\n"),
          Entry("opaque/", "dir", mode=0o755),
          Entry("opaque/old1.txt", data=b"old1\n"),
          Entry("opaque/sub/", "dir", mode=0o755),
          Entry("opaque/sub/old2.txt", data=b"old2\n")]
    l2 = [Entry("data/", "dir", mode=0o755),
          Entry("data/.wh.gone.txt"),
          Entry("data/.wh.gonedir"),
          Entry("opaque/", "dir", mode=0o755),
          Entry("opaque/.wh..wh..opq"),
          Entry("opaque/new.txt", data=b"new\n")]
    return write_image(layout, [tar_layer(busybox_entries()), tar_layer(l1), tar_layer(l2)])


def push_whiteout_image(registry: Registry, repo: str = "fixtures/whiteout",
                        tag: str = "latest",
                        cache: Optional[LayoutCache] = None) -> PushedImage:
    """(f) Three layers: busybox; files; whiteouts (``.wh.gone.txt``, ``.wh.gonedir``) and an
    opaque directory (``opaque/.wh..wh..opq``). ``expected`` lists what must (not) exist."""
    layout = (cache or default_cache()).get("whiteout", _whiteout_build)
    img = copy_layout(registry, layout, repo, tag)
    img.expected = dict(WHITEOUT_EXPECTED)
    return img


def push_large_image(registry: Registry, repo: str = "fixtures/large", tag: str = "latest",
                     total_size: int = 30 * 1024 * 1024, layers: int = 3, seed: int = 0,
                     cache: Optional[LayoutCache] = None) -> PushedImage:
    """(g) ``layers`` layers of incompressible (seeded random) data, ``total_size`` bytes in all.

    Each layer holds one file ``/random/N.bin``; gzip level 1. Reproducible for a given seed.
    """
    def build(layout: str) -> LayoutImage:
        rng = random.Random(seed)
        per = total_size // layers
        tars = []
        for i in range(layers):
            size = per if i < layers - 1 else total_size - per * (layers - 1)
            tars.append(tar_layer([Entry("random/", "dir", mode=0o755),
                                   Entry("random/%d.bin" % i, data=rng.randbytes(size))]))
        return write_image(layout, tars, gzip_level=1)

    key = "large-%d-%d-%d" % (total_size, layers, seed)
    layout = (cache or default_cache()).get(key, build)
    img = copy_layout(registry, layout, repo, tag)
    img.expected = {"total_size": total_size, "layers": layers}
    return img


def push_layers(registry: Registry, repo: str, tag: str, layers: Sequence[bytes],
                arch: str = "amd64", docker: bool = False, compress: str = "gzip",
                workdir: Optional[str] = None, config_extra: Optional[dict] = None) -> PushedImage:
    """Push an image made of raw uncompressed tar ``layers`` (e.g. hostile ones), uncached.

    ``docker`` pushes a v2s2 manifest. ``compress="none"`` keeps tar layers uncompressed
    in the layout; skopeo may still compress them on push.
    """
    tmp = tempfile.mkdtemp(prefix="undock-layers-", dir=workdir)
    try:
        image = write_image(os.path.join(tmp, "layout"), layers, arch, compress=compress,
                            config_extra=config_extra)
        return copy_layout(registry, image, repo, tag, ["--format", "v2s2"] if docker else [])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


ALL_FIXTURES: Dict[str, Callable[..., PushedImage]] = {
    "oci": push_oci_image,
    "docker": push_docker_image,
    "index": push_oci_index,
    "list": push_docker_manifest_list,
    "zstd": push_zstd_image,
    "whiteout": push_whiteout_image,
}


def push_all_fixtures(registry: Registry, cache: Optional[LayoutCache] = None) -> Dict[str, PushedImage]:
    """Push (a)-(f) to ``registry`` under ``fixtures/NAME:latest``."""
    return {name: fn(registry, "fixtures/" + name, "latest", cache=cache)
            for name, fn in ALL_FIXTURES.items()}


class Skopeo:
    """Run skopeo with the right TLS/credential flags for harness registries."""

    def run(self, *args: str, check: bool = True,
            timeout: float = SKOPEO_TIMEOUT) -> subprocess.CompletedProcess:
        """``skopeo ARGS`` (private policy and empty auth file)."""
        return run_skopeo(args, timeout=timeout, check=check)

    def flags(self, registry: Registry, side: str = "") -> List[str]:
        """See :func:`skopeo_flags`."""
        return skopeo_flags(registry, side)

    def copy(self, src: str, dest: str, src_registry: Optional[Registry] = None,
             dest_registry: Optional[Registry] = None, extra: Sequence[str] = (),
             check: bool = True) -> subprocess.CompletedProcess:
        """``skopeo copy [flags] SRC DEST``; pass the registries to get their flags."""
        args = ["copy", "--quiet"]
        if src_registry is not None:
            args += skopeo_flags(src_registry, "src")
        if dest_registry is not None:
            args += skopeo_flags(dest_registry, "dest")
        return run_skopeo(args + list(extra) + [src, dest], check=check)

    def inspect_raw(self, registry: Registry, ref: str) -> bytes:
        """Raw manifest bytes of ``REPO:TAG`` or ``REPO@DIGEST`` as skopeo reads them."""
        args = ["inspect", "--raw"] + skopeo_flags(registry) + [
            "docker://%s/%s" % (registry.host, ref)]
        return run_skopeo(args).stdout
