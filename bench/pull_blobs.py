#!/usr/bin/env python3
# -*- coding: utf-8 -*-
"""bench/pull_blobs: download-only pull of a ~100 MB multi-layer image from a loopback
docker-registry, ours against ``skopeo copy docker://... oci:DIR`` in the same run.

Each run starts from an empty destination. Prints median wall times and the ratio.
Target: ours <= 1.2x skopeo. ``--baseline REV`` also times the engine of git revision REV in
the same rounds and prints ours / REV (target: no slower than before, <= 1.0x).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile

from common import baseline_engine, ensure_bytecode, ensure_collection_link, engine_env, report, timed

ensure_collection_link()
ensure_bytecode()

from harness import images as I  # noqa: E402
from harness.registry import Registry  # noqa: E402

TARGET = 1.2


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--size-mb", type=int, default=100)
    parser.add_argument("--layers", type=int, default=5)
    parser.add_argument("--baseline", metavar="REV", help="also time the engine of this git revision")
    args = parser.parse_args()
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "undock_pull.py")
    engines = {"undock": (here, engine_env())}
    if args.baseline:
        engines["undock@" + args.baseline] = baseline_engine(args.baseline)
    work = tempfile.mkdtemp(prefix="undock-bench-")
    try:
        with Registry("plain", os.path.join(work, "registry")) as registry:
            registry.start()
            pushed = I.push_large_image(registry, repo="bench/large", total_size=args.size_mb * 1024 * 1024,
                                        layers=args.layers)
            size = sum(1 for _ in pushed.layers)
            print("image %s: %d layers, %d MB compressed" % (pushed.ref, size, args.size_mb))
            results = {"skopeo copy": []}
            results.update((name, []) for name in engines)
            contenders = ["skopeo copy"] + list(engines)
            for run in range(args.runs):
                # each round in another order: whoever runs right after another's 100 MB of writes
                # shares the disk with their writeback
                for name in contenders[run % len(contenders):] + contenders[:run % len(contenders)]:
                    dest = os.path.join(work, "pulled-%d" % run)
                    if name == "skopeo copy":
                        command = ["skopeo", "copy", "-q", "--src-tls-verify=false", "docker://" + pushed.ref,
                                   "oci:%s:x" % dest]
                        results[name].append(timed(command))
                    else:
                        script, env = engines[name]
                        results[name].append(timed([sys.executable, script, "--download-only", dest, registry.host,
                                                    pushed.ref], env=env))
                    shutil.rmtree(dest, ignore_errors=True)
            report("pull_blobs: %d MB in %d layers, loopback registry" % (args.size_mb, args.layers),
                   results, "undock", "skopeo copy", TARGET)
            if args.baseline:
                baseline = {name: results[name] for name in engines}
                report("pull_blobs: today's engine against %s, same rounds" % args.baseline, baseline, "undock",
                       "undock@" + args.baseline, 1.0)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
