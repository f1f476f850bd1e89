# -*- coding: utf-8 -*-
"""A corpus of hostile image layers, written byte by byte.

``build_corpus(outside, marker)`` returns a list of ``HostileLayer`` records:

* ``name``: a short identifier (stable: other suites push these through a registry);
* ``blob``: the layer bytes (a plain tar, or gzip/zstd where the case needs it);
* ``media_type``: the layer media type to push it with;
* ``expect``: ``"reject"`` (unpacking must raise ``LayerError``) or ``"contain"``
  (unpacking may succeed, and everything it made must stay inside the layer dir);
* ``detail``: for rejects, a string the error message must contain (the offending
  entry's name wherever there is one);
* ``limits``: keyword arguments for ``unpack_layer`` the case needs (small limits
  stand in for the defaults, so that bombs stay small);
* ``checks``: declarative assertions on the unpacked layer for ``contain`` cases,
  tuples of ``(what, path, value)``, interpreted by ``check_layer``;
* ``about``: which attack class it represents.

``outside`` is an absolute directory that the hostile entries aim at (symlinks to
it, absolute names under it); ``marker`` is the file name escaping entries try to
create. Whatever unpacks these layers must leave ``outside`` unchanged and create no
file called ``marker`` anywhere outside its destination.

Python's tarfile refuses to write most of this, so the tar writer is our own.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import stat
from typing import Dict, List, NamedTuple, Optional, Tuple

TAR = "application/vnd.oci.image.layer.v1.tar"
TAR_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
TAR_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"

END = bytes(1024)


class HostileLayer(NamedTuple):
    name: str
    blob: bytes
    expect: str                      # "reject" or "contain"
    detail: str = ""                 # substring of the error message (reject)
    about: str = ""
    media_type: str = TAR
    limits: Dict[str, int] = {}
    checks: Tuple[tuple, ...] = ()


# -- a raw tar writer ------------------------------------------------------------------

def _b(value) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode("utf-8", "surrogateescape")


def _octal(value: int, width: int) -> bytes:
    if 0 <= value < 8 ** (width - 1):
        return b"%0*o\x00" % (width - 1, value)
    # GNU base-256 (two's complement for negatives)
    raw = (value % (1 << (8 * width))).to_bytes(width, "big")
    return (b"\x80" + raw[1:]) if value >= 0 else raw


def header(name, typeflag: bytes = b"0", size: int = 0, linkname=b"", mode: int = 0o644,
           uid: int = 0, gid: int = 0, mtime: int = 1700000000, devmajor: int = 0,
           devminor: int = 0, prefix=b"", magic: bytes = b"ustar\x0000",
           size_field: Optional[bytes] = None, bad_checksum: bool = False) -> bytes:
    """One 512-byte ustar header block, with nothing validated."""
    h = bytearray(512)

    def put(offset: int, width: int, data: bytes) -> None:
        data = data[:width]
        h[offset:offset + len(data)] = data

    put(0, 100, _b(name))
    put(100, 8, _octal(mode, 8))
    put(108, 8, _octal(uid, 8))
    put(116, 8, _octal(gid, 8))
    put(124, 12, size_field if size_field is not None else _octal(size, 12))
    put(136, 12, _octal(mtime, 12))
    put(156, 1, typeflag)
    put(157, 100, _b(linkname))
    put(257, 8, magic)
    put(265, 32, b"root")
    put(297, 32, b"root")
    put(329, 8, _octal(devmajor, 8))
    put(337, 8, _octal(devminor, 8))
    put(345, 155, _b(prefix))
    h[148:156] = b" " * 8
    checksum = sum(h) + (1 if bad_checksum else 0)
    h[148:156] = b"%06o\x00 " % checksum
    return bytes(h)


def pad(data: bytes) -> bytes:
    return data + bytes(-len(data) % 512)


def member(name, data: bytes = b"", typeflag: bytes = b"0", **kw) -> bytes:
    """A header plus its (padded) data; names over 100 bytes get a PAX header."""
    kw.setdefault("size", len(data))
    records = []
    if len(_b(name)) > 100:
        records.append(("path", name))
    if len(_b(kw.get("linkname", b""))) > 100:
        records.append(("linkpath", kw["linkname"]))
    return (pax(records) if records else b"") + header(name, typeflag, **kw) + pad(data)


def pax_records(records) -> bytes:
    out = b""
    for key, value in records:
        body = b" " + _b(key) + b"=" + _b(value) + b"\n"
        length = len(body) + 1
        while len(b"%d" % length) + len(body) != length:
            length += 1
        out += b"%d" % length + body
    return out


def pax(records, typeflag: bytes = b"x", name=b"PaxHeaders/entry") -> bytes:
    """A PAX extended header applying to the next entry (``g``: to all of them)."""
    data = pax_records(records)
    return header(name, typeflag, size=len(data)) + pad(data)


def gnu_long(value, typeflag: bytes = b"L") -> bytes:
    """A GNU long name (``L``) or long link name (``K``) for the next entry."""
    data = _b(value) + b"\x00"
    return header(b"././@LongLink", typeflag, size=len(data), magic=b"ustar  \x00") + pad(data)


def tar(*members: bytes) -> bytes:
    return b"".join(members) + END


def d(name, mode: int = 0o755, **kw) -> bytes:
    return member(name, typeflag=b"5", mode=mode, **kw)


def f(name, data: bytes = b"", **kw) -> bytes:
    return member(name, data, **kw)


def sym(name, target, **kw) -> bytes:
    return member(name, typeflag=b"2", linkname=target, mode=0o777, **kw)


def hard(name, target, **kw) -> bytes:
    return member(name, typeflag=b"1", linkname=target, **kw)


def gz(data: bytes) -> bytes:
    return gzip.compress(data, 6, mtime=0)


def _gzip_zero_bomb(file_size: int) -> bytes:
    """A gzip'd tar holding one file of ``file_size`` zero bytes, built in chunks."""
    import zlib
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    out = [comp.compress(header("bomb", size=file_size))]
    chunk = bytes(1 << 20)
    left = file_size
    while left:
        n = min(left, len(chunk))
        out.append(comp.compress(chunk[:n]))
        left -= n
    out.append(comp.compress(bytes(-file_size % 512) + END))
    out.append(comp.flush())
    return b"".join(out)


def _zstd_zero_bomb(file_size: int) -> Optional[bytes]:
    try:
        import zstandard
    except ImportError:
        return None
    comp = zstandard.ZstdCompressor(level=3).compressobj()
    out = [comp.compress(header("bomb", size=file_size))]
    chunk = bytes(1 << 20)
    for _ in range(file_size // len(chunk)):
        out.append(comp.compress(chunk))
    out.append(comp.compress(END))
    out.append(comp.flush())
    return b"".join(out)


# -- the corpus -----------------------------------------------------------------------------

def build_corpus(outside: str, marker: str = "UNDOCK_ESCAPED") -> List[HostileLayer]:
    """Every hostile layer of the suite, aimed at the absolute directory ``outside``."""
    out = outside.rstrip("/")
    m = marker
    cases: List[HostileLayer] = []

    def add(name, blob, expect, detail="", about="", **kw):
        cases.append(HostileLayer(name, blob, expect, detail, about, **kw))

    # Path traversal -------------------------------------------------------------------
    add("absolute-name", tar(f("/etc/" + m, b"abs")), "contain",
        about="absolute names are relative to the layer root",
        checks=(("file", "etc/" + m, b"abs"),))
    add("absolute-name-into-outside", tar(f(out + "/" + m, b"abs")), "contain",
        about="an absolute name naming the outside dir lands under the layer root",
        checks=(("file", out.lstrip("/") + "/" + m, b"abs"),))
    add("dotdot-escape", tar(f("../" + m, b"x")), "reject", "../" + m,
        about="a .. climbing out of the root")
    add("dotdot-deep-escape", tar(f("../" * 24 + "tmp/" + m, b"x")), "reject", "tmp/" + m,
        about="many .. aiming at /tmp")
    add("dotdot-after-dir", tar(d("a"), f("a/../../" + m, b"x")), "reject", "a/../../" + m,
        about=".. after a real component, still escaping")
    add("dotdot-dot-escape", tar(f("./a/./../../" + m, b"x")), "reject", "./a/./../../" + m,
        about="mixed . and .. components")
    add("absolute-dotdot", tar(f("/../" + m, b"x")), "reject", "/../" + m,
        about="leading slash then ..")
    add("dotdot-contained", tar(d("a"), f("a/../b", b"ok")), "contain",
        about="a .. that stays inside resolves lexically",
        checks=(("file", "b", b"ok"), ("dir", "a", None)))
    add("pax-path-escape", tar(pax([("path", "../" + m)]), f("innocent", b"x")), "reject",
        "../" + m, about="a PAX path overriding an innocent ustar name")
    add("gnu-longname-escape", tar(gnu_long("../../" + m), f("innocent", b"x")), "reject",
        "../../" + m, about="a GNU long name overriding an innocent ustar name")
    add("ustar-prefix-escape", tar(f(m, b"x", prefix="..")), "reject", "../" + m,
        about="the ustar prefix field carrying ..")
    add("pax-path-absolute-outside", tar(pax([("path", out + "/" + m)]), f("innocent", b"x")),
        "contain", about="an absolute PAX path is made relative",
        checks=(("file", out.lstrip("/") + "/" + m, b"x"),))

    # Symlinks ----------------------------------------------------------------------------
    add("symlink-then-write-through", tar(sym("a", out), f("a/" + m, b"pwned")), "reject",
        "a/" + m, about="symlink a -> outside, then a/FILE in the same layer")
    add("symlink-then-mkdir-through", tar(sym("a", out), d("a/sub")), "reject", "a/sub",
        about="symlink a -> outside, then directory a/sub")
    add("symlink-then-symlink-through", tar(sym("a", out), sym("a/l", "/etc/passwd")), "reject",
        "a/l", about="symlink a -> outside, then a symlink inside it")
    add("symlink-then-device-through", tar(sym("a", out), member("a/null", typeflag=b"3",
                                                                  devmajor=1, devminor=3)),
        "reject", "a/null", about="symlink a -> outside, then a device node inside it")
    add("symlink-relative-escape", tar(sym("up", "../../../../../../.."),
                                       f("up/tmp/" + m, b"pwned")), "reject", "up/tmp/" + m,
        about="a relative symlink climbing out, then a write through it")
    add("symlink-dotdot-chain",
        tar(d("a"), sym("a/up", ".."), sym("a/b", "up/up"), f("a/b/" + m, b"x")), "reject",
        "a/b/" + m, about="a chain of symlinks to .. ")
    add("symlink-to-dot-loop", tar(sym("self", "."), f("self/self/" + m, b"x")), "reject",
        "self/self/" + m, about="a symlink to . used as a directory")
    add("symlink-stored-verbatim", tar(sym("etc-passwd", "/etc/passwd"), sym("rel", "../../x"),
                                       sym("out", out + "/secret")), "contain",
        about="symlinks to anywhere are stored, never followed",
        checks=(("symlink", "etc-passwd", "/etc/passwd"), ("symlink", "rel", "../../x"),
                ("symlink", "out", out + "/secret")))
    add("symlink-then-file-same-name", tar(sym("s", out + "/secret"), f("s", b"pwned")),
        "contain", about="a file replacing a symlink must not write through it",
        checks=(("file", "s", b"pwned"),))
    add("symlink-then-dir-same-name", tar(sym("s", out), d("s", mode=0o777, mtime=1)), "contain",
        about="a directory replacing a symlink: attributes must not reach the target",
        checks=(("dir", "s", 0o777),))
    add("symlink-parent-whiteout", tar(sym("a", out), f("a/.wh.secret")), "reject",
        "a/.wh.secret", about="a whiteout through a symlinked parent (would delete outside)")
    add("symlink-parent-opaque", tar(sym("a", out), f("a/.wh..wh..opq")), "reject",
        "a/.wh..wh..opq", about="an opaque marker through a symlinked parent")
    add("dir-replaced-by-symlink",
        tar(d("x"), f("x/y", b"y"), sym("x", out), f("x/" + m, b"x")), "reject", "x/" + m,
        about="a directory replaced by a symlink, then a write into it")
    add("file-dir-symlink-games",
        tar(f("x", b"file"), d("x"), f("x/y", b"y"), sym("x", out)), "contain",
        about="file -> dir -> symlink replacements keep only the last",
        checks=(("symlink", "x", out), ("absent", "x/y", None)))
    add("dir-replaced-by-symlink-to-dotdot", tar(d("d"), sym("d", ".."), f("d/" + m, b"x")),
        "reject", "d/" + m, about="a directory replaced by a symlink to ..")

    # Hardlinks ---------------------------------------------------------------------------
    add("hardlink-dotdot-out", tar(hard("h", "../../../../etc/passwd")), "reject", "h",
        about="a hardlink whose target climbs out")
    add("hardlink-absolute-outside", tar(hard("h", out + "/secret")), "reject", "h",
        about="an absolute hardlink target is layer-relative and does not exist")
    add("hardlink-through-symlink", tar(sym("s", out), hard("h", "s/secret")), "reject", "h",
        about="a hardlink target reached through a symlinked parent")
    add("hardlink-to-symlink", tar(sym("s", out + "/secret"), hard("h", "s")), "contain",
        about="a hardlink to a symlink links the symlink itself",
        checks=(("symlink", "h", out + "/secret"), ("same-inode", "h", "s")))
    add("hardlink-to-symlink-then-write",
        tar(sym("s", out + "/secret"), hard("h", "s"), f("h", b"pwned")), "contain",
        about="overwriting a hardlinked symlink must not reach its target",
        checks=(("file", "h", b"pwned"), ("symlink", "s", out + "/secret")))
    add("hardlink-to-directory", tar(d("dir"), hard("h", "dir")), "reject", "h",
        about="hardlinks to directories")
    add("hardlink-missing-target", tar(hard("h", "nowhere")), "reject", "h",
        about="a hardlink to a file of another layer")
    add("hardlink-ok", tar(f("a", b"data", mode=0o4755), hard("b", "a")), "contain",
        about="an ordinary hardlink inside the layer",
        checks=(("same-inode", "b", "a"), ("mode", "a", 0o4755)))

    # Whiteouts --------------------------------------------------------------------------
    add("whiteout-bare", tar(f(".wh.")), "reject", ".wh.", about="bare .wh.")
    add("whiteout-dot", tar(f(".wh..")), "reject", ".wh..", about=".wh.. (whiteout of .)")
    add("whiteout-dotdot", tar(f(".wh...")), "reject", ".wh...", about=".wh... (whiteout of ..)")
    add("whiteout-dotdot-nested", tar(d("a"), f("a/.wh...")), "reject", "a/.wh...",
        about="whiteout of .. in a subdirectory")
    add("whiteout-dotdot-dir", tar(f("a/.wh.../" + m)), "reject", "a/.wh.../" + m,
        about="a whiteout name used as a directory, with ..")
    add("whiteout-escape", tar(f("../.wh.secret")), "reject", "../.wh.secret",
        about="a whiteout climbing out of the root")
    add("opaque-inside-whiteout", tar(f(".wh.d/.wh..wh..opq")), "reject", ".wh.d/.wh..wh..opq",
        about="an opaque marker inside a whiteout name")
    add("whiteout-unknown-meta", tar(f(".wh..wh.evil")), "reject", ".wh..wh.evil",
        about="unknown .wh..wh. meta names")
    add("whiteout-aufs-meta-skipped",
        tar(d(".wh..wh.plnk"), f(".wh..wh.plnk/1234.5678", b"x"), f(".wh..wh.aufs")), "contain",
        about="aufs meta entries are implementation-specific and skipped",
        checks=(("absent", ".wh..wh.plnk", None), ("absent", ".wh..wh.aufs", None)))
    add("whiteout-plain-in-opaque", tar(d("d"), f("d/.wh..wh..opq"), f("d/.wh.x")), "contain",
        about="a plain whiteout inside an opaque directory is redundant",
        checks=(("opaque", "d", None), ("whiteout", "d/x", None)))
    add("whiteout-then-same-name", tar(f(".wh.a"), f("a", b"new")), "contain",
        about="a layer may recreate a name it whites out",
        checks=(("file", "a", b"new"),))
    add("file-then-whiteout-same-name", tar(f("a", b"keep"), f(".wh.a")), "contain",
        about="a whiteout never hides its own layer's entries",
        checks=(("file", "a", b"keep"),))
    add("whiteout-then-dir", tar(f(".wh.d"), d("d"), f("d/new", b"n")), "contain",
        about="a directory recreated over its whiteout is opaque",
        checks=(("opaque", "d", None), ("file", "d/new", b"n")))
    add("whiteout-of-symlink", tar(sym("s", out), f(".wh.s")), "contain",
        about="a whiteout of a same-layer symlink keeps the symlink, touches nothing",
        checks=(("symlink", "s", out),))
    add("whiteout-with-data", tar(f("a/.wh.b", b"junk" * 300)), "contain",
        about="a whiteout entry carrying data",
        checks=(("whiteout", "a/b", None),))

    # Dangerous content -------------------------------------------------------------------
    add("device-nodes",
        tar(d("dev"), member("dev/null", typeflag=b"3", devmajor=1, devminor=3, mode=0o666),
            member("dev/sda", typeflag=b"4", devmajor=8, devminor=0, mode=0o660),
            member("dev/fifo", typeflag=b"6")),
        "contain", about="device nodes are created inside the (0700) store only",
        checks=(("chardev", "dev/null", (1, 3)), ("blockdev", "dev/sda", (8, 0)),
                ("fifo", "dev/fifo", None)))
    add("setuid-root", tar(f("bin/su", b"#!", mode=0o6755)), "contain",
        about="setuid/setgid files keep their bits inside the store",
        checks=(("mode", "bin/su", 0o6755),))
    add("overlay-xattr-injection",
        tar(pax([("SCHILY.xattr.trusted.overlay.redirect", "/etc"),
                 ("SCHILY.xattr.trusted.overlay.opaque", "y")]), d("d")), "contain",
        about="overlay xattrs from the archive are dropped",
        checks=(("no-xattr", "d", "trusted.overlay.redirect"),
                ("no-xattr", "d", "trusted.overlay.opaque")))

    # Bombs and unbounded headers ---------------------------------------------------------
    add("gzip-bomb", _gzip_zero_bomb(64 << 20), "reject", "size limit", media_type=TAR_GZIP,
        limits={"max_size": 8 << 20}, about="a small gzip expanding past the size limit")
    zbomb = _zstd_zero_bomb(64 << 20)
    if zbomb is not None:
        add("zstd-bomb", zbomb, "reject", "size limit", media_type=TAR_ZSTD,
            limits={"max_size": 8 << 20}, about="a small zstd expanding past the size limit")
    add("pax-header-8g", tar(header("PaxHeaders/huge", b"x", size=8 ** 11 - 1), f("a", b"")),
        "reject", "PaxHeaders/huge", about="a PAX header claiming 8 GiB (CVE-2022-2879 class)")
    add("pax-header-base256-huge",
        tar(header("PaxHeaders/huge", b"x", size=1 << 70), f("a", b"")), "reject",
        "PaxHeaders/huge", about="a base-256 PAX header size of 2**70")
    add("pax-header-2m", pax([("comment", "a" * (2 << 20))]) + tar(f("a", b"")), "reject",
        "PaxHeaders/entry", about="a real 2 MiB PAX header")
    add("pax-header-chain",
        b"".join(pax([("comment%d" % i, "a" * 200000)]) for i in range(8)) + tar(f("a", b"")),
        "reject", "PaxHeaders/entry", about="many PAX headers for one entry adding up")
    add("gnu-longname-2m", tar(gnu_long("a" * (2 << 20)), f("a", b"")), "reject",
        "././@LongLink", about="a 2 MiB GNU long name")
    add("gnu-longlink-8g", tar(header("././@LongLink", b"K", size=8 ** 11 - 1)), "reject",
        "././@LongLink", about="a GNU long link claiming 8 GiB")
    add("path-too-long", tar(pax([("path", "a/" * 3000 + "b")]), f("x", b"")), "reject",
        "a/a/a/", about="a path beyond the path-length limit")
    add("path-too-deep", tar(pax([("path", "d/" * 300 + m)]), f("x", b"")), "reject", "d/d/d/",
        about="a directory chain beyond the depth limit")
    add("many-entries", tar(*(f("f%d" % i) for i in range(600))), "reject", "entries",
        limits={"max_entries": 500}, about="more entries than the limit")
    add("many-implicit-dirs", tar(*(f("%d/a/b/c/d/e" % i) for i in range(100))), "reject",
        "entries", limits={"max_entries": 300},
        about="entries creating many implicit parent directories")

    # Names with NUL and malformed headers ------------------------------------------------
    add("pax-path-nul", tar(pax([("path", "safe\x00../../" + m)]), f("innocent", b"x")),
        "reject", "safe", about="a NUL inside a PAX path")
    add("gnu-longname-nul", tar(gnu_long("safe\x00../../" + m), f("innocent", b"x")), "reject",
        "safe", about="a NUL inside a GNU long name")
    add("pax-linkpath-nul", tar(pax([("linkpath", "/etc\x00/passwd")]), sym("l", "x")), "reject",
        "l", about="a NUL inside a PAX symlink target")
    add("bad-checksum", tar(header("a", size=0, bad_checksum=True)), "reject", "checksum",
        about="a header with a wrong checksum")
    add("truncated-data", header("a", size=4096) + b"short", "reject", "truncated",
        about="a file shorter than its header says")
    add("negative-size", tar(header("a", size=-1)), "reject", "negative",
        about="a base-256 negative size")
    add("sparse-entry", tar(member("sparse", typeflag=b"S")), "reject", "sparse",
        about="GNU sparse files")
    add("pax-sparse", tar(pax([("GNU.sparse.major", "1"), ("GNU.sparse.minor", "0")]),
                          f("s", b"")), "reject", "sparse", about="PAX sparse files")
    add("hidden-header-in-symlink-data",
        tar(header("l", b"2", size=1024, linkname="x") + f("../" + m, b"x")), "reject",
        "../" + m, about="data after a header-only entry is parsed as the next header")
    add("symlink-as-root", tar(sym("./", out)), "reject", "./",
        about="a symlink replacing the layer root")
    add("hardlink-as-root", tar(f("a"), hard(".", "a")), "reject", ".",
        about="a hardlink replacing the layer root")
    return cases


# -- helpers for suites that apply the corpus --------------------------------------------------

def make_sentinel(sandbox: str) -> str:
    """Create ``sandbox/sentinel``: the files, dirs, symlink and xattr the corpus aims at."""
    outside = os.path.join(sandbox, "sentinel")
    os.makedirs(os.path.join(outside, "sub", "deeper"))
    for rel, data in (("secret", b"top secret\n"), ("passwd", b"root:x:0:0::/root:/bin/sh\n"),
                      ("sub/file", b"file"), ("sub/deeper/file", b"deeper")):
        with open(os.path.join(outside, rel), "wb") as handle:
            handle.write(data)
    os.symlink("secret", os.path.join(outside, "link"))
    os.setxattr(os.path.join(outside, "secret"), "trusted.sentinel", b"1")
    for dirpath, dirnames, filenames in os.walk(outside):
        for name in dirnames + filenames:
            os.utime(os.path.join(dirpath, name), ns=(10 ** 18, 10 ** 18), follow_symlinks=False)
    os.chmod(os.path.join(outside, "sub"), 0o750)
    os.utime(outside, ns=(10 ** 18, 10 ** 18))
    return outside



def snapshot(root: str, exclude: str) -> dict:
    """Everything about the tree at ``root`` except the subtree ``exclude``."""
    exclude = os.path.abspath(exclude)
    state = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        if os.path.abspath(dirpath) == exclude or os.path.abspath(dirpath).startswith(exclude + "/"):
            dirnames[:] = []
            continue
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            if os.path.abspath(path) == exclude:
                continue
            st = os.lstat(path)
            info = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid,
                    st.st_size, st.st_mtime_ns, st.st_nlink)
            try:
                xattrs = tuple(sorted(os.listxattr(path, follow_symlinks=False)))
            except OSError:
                xattrs = ()
            if stat.S_ISREG(st.st_mode):
                with open(path, "rb") as handle:
                    content = hashlib.sha256(handle.read()).hexdigest()
            elif stat.S_ISLNK(st.st_mode):
                content = os.readlink(path)
            else:
                content = None
            state[os.path.relpath(path, root)] = (info, xattrs, content)
    st = os.lstat(root)
    state["."] = ((stat.S_IMODE(st.st_mode), st.st_mtime_ns), (), None)
    return state


def check_layer(layer: str, checks) -> None:
    """Assert the declarative ``checks`` of a contained case on the unpacked ``layer``."""
    for what, rel, value in checks:
        path = os.path.join(layer, rel)
        if what == "absent":
            assert not os.path.lexists(path), "%s should not exist" % rel
            continue
        st = os.lstat(path)
        if what == "file":
            assert stat.S_ISREG(st.st_mode), "%s is not a regular file" % rel
            with open(path, "rb") as handle:
                assert handle.read() == value, "%s has the wrong content" % rel
        elif what == "dir":
            assert stat.S_ISDIR(st.st_mode), "%s is not a directory" % rel
            if value is not None:
                assert stat.S_IMODE(st.st_mode) == value, "%s mode %o" % (rel, st.st_mode)
        elif what == "symlink":
            assert stat.S_ISLNK(st.st_mode), "%s is not a symlink" % rel
            assert os.readlink(path) == value, "%s points to %s" % (rel, os.readlink(path))
        elif what == "same-inode":
            other = os.lstat(os.path.join(layer, value))
            assert (st.st_dev, st.st_ino) == (other.st_dev, other.st_ino), \
                "%s and %s are not hardlinked" % (rel, value)
        elif what == "mode":
            assert stat.S_IMODE(st.st_mode) == value, "%s mode %o" % (rel, st.st_mode)
        elif what in ("chardev", "blockdev"):
            fmt = stat.S_ISCHR if what == "chardev" else stat.S_ISBLK
            assert fmt(st.st_mode), "%s is not a %s" % (rel, what)
            assert (os.major(st.st_rdev), os.minor(st.st_rdev)) == tuple(value)
        elif what == "fifo":
            assert stat.S_ISFIFO(st.st_mode), "%s is not a fifo" % rel
        elif what == "whiteout":
            assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0, "%s is not a whiteout" % rel
        elif what == "opaque":
            assert os.getxattr(path, "trusted.overlay.opaque", follow_symlinks=False) == b"y", \
                "%s is not opaque" % rel
        elif what == "no-xattr":
            assert value not in os.listxattr(path, follow_symlinks=False), \
                "%s carries %s" % (rel, value)
        else:
            raise AssertionError("unknown check %r" % (what,))
