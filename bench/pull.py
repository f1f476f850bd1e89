#!/usr/bin/env python3
# -*- coding: utf-8 -*-
"""bench/pull: a full pull plus unpack of a Debian bookworm image from a loopback
docker-registry, in the same session: ``podman pull``; ``skopeo copy`` + ``umoci unpack``;
ours (ImageService.present in its own process: download, verify and unpack every layer).

The image is built by the benchmark: ``debootstrap --variant=minbase bookworm``, tarred
into one gzip layer (``--layers 2``: /usr, then the rest), cached under
/var/cache/undock-bench. Every timed run starts from an empty destination, on the same
filesystem for all three. Prints median wall times, the ratios, and peak RSS.
Target: ours <= 0.8x podman pull. Peak memory must stay flat as the image grows.

``--phases`` also times, in this process, what a pull is made of (read + inflate + hash
of the local blob, our unpack of the local blob, the download alone) and profiles one
in-process pull with cProfile. ``--baseline REV`` also times the engine of git revision REV in
the same rounds and prints ours / REV (no slower than before: <= 1.0x).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from common import baseline_engine, engine_env, ensure_collection_link, report
from debian_image import debian_layout, layout_summary, measure

ensure_collection_link()

from harness import images as I  # noqa: E402
from harness.registry import Registry  # noqa: E402
from harness.treediff import unmount_all_below  # noqa: E402

TARGET = 0.8
HERE = os.path.dirname(os.path.abspath(__file__))
PODMAN, PEERS, OURS = "podman pull", "skopeo copy + umoci unpack", "undock"


class Contenders:
    """The three ways to pull, each run from an empty destination under ``work``; every
    call returns (wall seconds, peak RSS KiB) and removes what it made (untimed)."""

    def __init__(self, work: str, registry: Registry, ref: str, tag: str) -> None:
        self.work, self.registry, self.ref, self.tag = work, registry, ref, tag
        self.rusage = os.path.join(work, "rusage")
        conf = os.path.join(work, "registries.conf")
        with open(conf, "w") as handle:
            handle.write('[[registry]]\nlocation = "%s"\ninsecure = true\n' % registry.host)
        auth = os.path.join(work, "auth.json")
        with open(auth, "w") as handle:
            handle.write('{"auths": {}}')
        self.policy = os.path.join(work, "policy.json")
        with open(self.policy, "w") as handle:
            handle.write('{"default": [{"type": "insecureAcceptAnything"}]}')
        self.env = dict(os.environ, CONTAINERS_REGISTRIES_CONF=conf, REGISTRY_AUTH_FILE=auth)
        self.driver = self._podman_driver()

    def _podman_args(self, root: str, runroot: str, driver: str) -> list:
        # its own storage; the runroot is short (podman wants < 50 characters)
        return ["podman", "--root", root, "--runroot", runroot, "--tmpdir", os.path.join(runroot, "libpod"),
                "--storage-driver", driver, "pull", "--quiet", self.ref]

    def _podman_driver(self) -> str:
        """overlay if podman can pull with it here, else vfs (an untimed warm-up pull)."""
        for driver in ("overlay", "vfs"):
            root, runroot = os.path.join(self.work, "podman-probe"), tempfile.mkdtemp(prefix="ubp-", dir="/tmp")
            try:
                proc = subprocess.run(self._podman_args(root, runroot, driver), env=self.env, capture_output=True,
                                      text=True, timeout=900, stdin=subprocess.DEVNULL)
            finally:
                clean(root, runroot)
            if proc.returncode == 0:
                return driver
            print("podman with --storage-driver %s failed: %s" % (driver, proc.stderr.strip()[-500:]))
        raise SystemExit("podman cannot pull with overlay or vfs here")

    def podman(self, run: int):
        root, runroot = os.path.join(self.work, "podman-%d" % run), tempfile.mkdtemp(prefix="ubp-", dir="/tmp")
        try:
            return measure(self._podman_args(root, runroot, self.driver), self.rusage, env=self.env)
        finally:
            clean(root, runroot)

    def skopeo_umoci(self, run: int):
        """skopeo copy to an OCI layout, then umoci unpack of it; returns both measures."""
        oci, bundle = os.path.join(self.work, "oci-%d" % run), os.path.join(self.work, "bundle-%d" % run)
        try:
            copy = measure(["skopeo", "--policy", self.policy, "copy", "--quiet", "--src-tls-verify=false",
                            "docker://" + self.ref, "oci:%s:%s" % (oci, self.tag)], self.rusage, env=self.env)
            unpack = measure(["umoci", "unpack", "--image", "%s:%s" % (oci, self.tag), bundle], self.rusage,
                             env=self.env)
            return copy, unpack
        finally:
            clean(oci, bundle)

    def ours(self, run: int, engine=None):
        """ImageService.present in its own process, as skopeo is (bench/undock_pull.py);
        ``engine`` = (script, env) of another revision's engine."""
        script, env = engine or (os.path.join(HERE, "undock_pull.py"), engine_env())
        store = os.path.join(self.work, "undock-%d" % run)
        try:
            return measure([sys.executable, script, store, self.registry.host, self.ref], self.rusage, env=env)
        finally:
            clean(store, store + ".conf", store + ".auth.json")


def clean(*paths: str) -> None:
    """Unmount whatever a tool left mounted below ``paths``, then remove them."""
    for path in paths:
        if os.path.isdir(path) and not os.path.islink(path):
            unmount_all_below(path)
            shutil.rmtree(path, ignore_errors=True)
        elif os.path.lexists(path):
            os.unlink(path)


def median_line(name: str, values, unit: str = "s", scale: float = 1.0) -> str:
    fmt = "%.1f" if unit == "MB" else "%.3f"
    return "    %-28s median %7s %s   runs: %s" % (name, fmt % (statistics.median(values) / scale), unit,
                                                   " ".join(fmt % (v / scale) for v in values))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--layers", type=int, default=1, choices=(1, 2))
    parser.add_argument("--include", default="", help="extra packages for debootstrap, comma-separated "
                        "(a bigger image)")
    parser.add_argument("--workdir", default="/var/tmp", help="where the registry and every destination live")
    parser.add_argument("--phases", action="store_true", help="also time the parts of our pull and profile it")
    parser.add_argument("--baseline", metavar="REV", help="also time the engine of this git revision")
    args = parser.parse_args()
    baseline = baseline_engine(args.baseline) if args.baseline else None
    before = "%s@%s" % (OURS, args.baseline)

    include = [p for p in args.include.split(",") if p]
    layout, tag = debian_layout(layers=args.layers, include=include)
    info = layout_summary(layout, tag)
    work = tempfile.mkdtemp(prefix="undock-bench-pull-", dir=args.workdir)
    try:
        with Registry("plain", os.path.join(work, "registry")) as registry:
            ref = "%s/bench/debian:%s" % (registry.host, tag)
            I.run_skopeo(["copy", "--quiet", "--dest-tls-verify=false", "oci:%s:%s" % (layout, tag),
                          "docker://" + ref])
            print("image %s: %d layer(s), %.1f MB gzip, %.1f MB tar, %d entries (debootstrap --variant=minbase%s)"
                  % (ref, info["layers"], info["compressed"] / 1e6, info["tar_size"] / 1e6, info["entries"],
                     " --include=" + ",".join(include) if include else ""))
            contenders = Contenders(work, registry, ref, tag)
            print("podman storage driver: %s" % contenders.driver)
            times = {PODMAN: [], PEERS: [], OURS: []}
            rss = {PODMAN: [], PEERS: [], OURS: []}
            if baseline:
                times[before], rss[before] = [], []
            split = {"skopeo copy": [], "umoci unpack": []}
            for run in range(args.runs):
                for name, measured in ((PODMAN, contenders.podman(run)), (OURS, contenders.ours(run))):
                    times[name].append(measured[0])
                    rss[name].append(measured[1])
                copy, unpack = contenders.skopeo_umoci(run)
                times[PEERS].append(copy[0] + unpack[0])
                rss[PEERS].append(max(copy[1], unpack[1]))
                split["skopeo copy"].append(copy[0])
                split["umoci unpack"].append(unpack[0])
                if baseline:
                    measured = contenders.ours(run, baseline)
                    times[before].append(measured[0])
                    rss[before].append(measured[1])

            report("pull: Debian %s, %d layer(s), %.0f MB gzip / %.0f MB / %d entries, loopback registry, "
                   "podman %s" % (tag, info["layers"], info["compressed"] / 1e6, info["tar_size"] / 1e6,
                                  info["entries"], contenders.driver), times, OURS, PODMAN, TARGET)
            for name, runs in split.items():
                print(median_line(name, runs))
            ratio = statistics.median(times[OURS]) / statistics.median(times[PEERS])
            print("  ratio %s / (%s) = %.2fx" % (OURS, PEERS, ratio))
            if baseline:
                ratio = statistics.median(times[OURS]) / statistics.median(times[before])
                print("  ratio %s / %s = %.2fx (target <= 1.00x): %s" % (OURS, before, ratio,
                                                                       "met" if ratio <= 1.0 else "MISSED"))
            print("  peak RSS (largest process of each):")
            for name, values in rss.items():
                print(median_line(name, values, "MB", 1024))
            if args.phases:
                phases(work, registry, ref, layout, info)
    finally:
        clean(work)
    return 0


def phases(work: str, registry: Registry, ref: str, layout: str, info: dict) -> None:
    """Where our pull spends its time, measured in this process; every step starts from an
    empty destination on the benchmark's filesystem and its cleanup is not timed."""
    import cProfile
    import pstats

    from ansible_collections.undock.oci.plugins.module_utils.image.copy import copy_image, resolve_image
    from ansible_collections.undock.oci.plugins.module_utils.image.local import StoreImageDestination, layer_diff_ids
    from ansible_collections.undock.oci.plugins.module_utils.image.ops import ImageService
    from ansible_collections.undock.oci.plugins.module_utils.image.remote import open_pull_source
    from ansible_collections.undock.oci.plugins.module_utils.registry.config import RegistryOptions
    from ansible_collections.undock.oci.plugins.module_utils.registry.context import RegistryContext
    from ansible_collections.undock.oci.plugins.module_utils.model.reference import parse_reference
    from ansible_collections.undock.oci.plugins.module_utils.storage import compression
    from ansible_collections.undock.oci.plugins.module_utils.storage.layers import LayerStore
    from ansible_collections.undock.oci.plugins.module_utils.storage.store import Store
    from ansible_collections.undock.oci.plugins.module_utils.storage.unpack import unpack_layer

    blobs = [os.path.join(layout, "blobs", "sha256", d.split(":", 1)[1]) for d in info["layer_digests"]]
    dest = os.path.join(work, "phase")
    conf = os.path.join(work, "phase.conf")
    with open(conf, "w") as handle:
        handle.write('[[registry]]\nlocation = "%s"\ninsecure = true\n' % registry.host)
    options = RegistryOptions(registries_conf=conf, registries_conf_dir=conf + ".d",
                              auth_file=os.path.join(work, "phase.auth.json"))
    print("== phases of our pull (in this process, %d layer(s), %s)" % (len(blobs), work))

    def timed(label, fn, *args):
        os.makedirs(dest, 0o700)
        try:
            start = time.perf_counter()
            fn(*args)
            elapsed = time.perf_counter() - start
        finally:
            clean(dest)
        print("  %-56s %7.3f s" % (label, elapsed))

    def inflate_and_hash():
        for path in blobs:
            raw, tar = hashlib.sha256(), hashlib.sha256()
            with open(path, "rb") as handle:
                class Hashing:
                    def read(self, n):
                        data = handle.read(n)
                        raw.update(data)
                        return data
                reader = compression.open_decompressed(Hashing(), "application/vnd.oci.image.layer.v1.tar+gzip")
                for chunk in iter(lambda: reader.read(1024 * 1024), b""):
                    tar.update(chunk)
                reader.close()

    def gnu_tar():
        for path in blobs:
            subprocess.run(["tar", "--numeric-owner", "-xzf", path, "-C", dest], check=True)

    def create_probe(count=2000):
        for i in range(count):
            fd = os.open(os.path.join(dest, "f%d" % i), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            os.write(fd, b"x" * 100)
            os.close(fd)

    def unpack_local(threads):
        for i, (path, digest, diff_id) in enumerate(zip(blobs, info["layer_digests"], info["diff_ids"])):
            target = os.path.join(dest, str(i))
            os.mkdir(target, 0o755)
            with open(path, "rb") as handle:
                unpack_layer(handle, target, expected_blob_digest=digest, expected_diff_id=diff_id, threads=threads)

    def download_only():
        source = open_pull_source(RegistryContext(options), parse_reference(ref))
        destination = StoreImageDestination(Store.open(os.path.join(dest, "store")), ref, unpack=False)
        try:
            copy_image(source, destination, image=resolve_image(source))
        finally:
            destination.close()
            source.close()

    def full_pull():
        ImageService(os.path.join(dest, "store"), RegistryContext(options)).present(ref)

    def layers_in_main_thread():
        """LayerStore.pull of every layer (download + unpack in one pass), in this thread
        so that cProfile sees it (copy_image runs layers in worker threads)."""
        store = Store.open(os.path.join(dest, "store"))
        source = open_pull_source(RegistryContext(options), parse_reference(ref))
        try:
            image = resolve_image(source)
            diff_ids = layer_diff_ids(image.manifest, image.config)
            layers = LayerStore(store)
            with store.writing():
                for desc in image.manifest.layers:
                    layers.pull(desc, diff_ids[desc["digest"]], source.blob_opener(desc))
        finally:
            source.close()

    def profiled():
        profile = cProfile.Profile()
        profile.enable()
        layers_in_main_thread()
        profile.disable()
        profiled.stats = pstats.Stats(profile, stream=sys.stdout)

    timed("2000 empty-ish file creations (os.open O_EXCL + write)", create_probe)
    timed("GNU tar -xzf of the local blob(s)", gnu_tar)
    timed("read + inflate + sha256 x2 of the local blob(s)", inflate_and_hash)
    timed("unpack_layer of the local blob(s)", unpack_local, False)
    timed("unpack_layer of the local blob(s), threads=True", unpack_local, True)
    timed("download only (copy_image, unpack=False)", download_only)
    timed("full pull in process (ImageService.present)", full_pull)
    timed("LayerStore.pull of each layer, main thread, cProfile on", profiled)
    print("  cProfile of LayerStore.pull of each layer (download + unpack), top 20 by own time:")
    profiled.stats.sort_stats("tottime").print_stats(20)


if __name__ == "__main__":
    sys.exit(main())
