# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""TLS for one registry host: the per-registry ``certs.d/HOST[:PORT]/`` files, the task's
TLS options laid over them, and the CA bundle that ``requests`` takes."""

from __future__ import annotations

import errno
import hashlib
import os
import ssl
import stat
import tempfile
from collections import namedtuple

from ..common.errors import ConfigError
from ..common.fileutil import atomic_write, makedirs_private

from .config import RegistryOptions

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import List, Mapping, Optional, Sequence, Tuple, Union
    from .registries_conf import RegistriesConfig

DEFAULT_CERTS_DIRS = ("/etc/containers/certs.d", "/etc/docker/certs.d")
USER_CERTS_DIR = os.path.join(".config", "containers", "certs.d")                      # under $HOME


class TLSFiles:
    """What a ``certs.d/HOST[:PORT]/`` directory holds."""

    __slots__ = ("directory", "ca_certs", "client_cert", "client_key", "client_pairs")

    def __init__(self, directory: Optional[str] = None, ca_certs: Optional[List[str]] = None,
                 client_cert: Optional[str] = None, client_key: Optional[str] = None,
                 client_pairs: Optional[List[Tuple[str, str]]] = None) -> None:
        self.directory = directory
        self.ca_certs = [] if ca_certs is None else ca_certs
        self.client_cert = client_cert
        self.client_key = client_key
        self.client_pairs = [] if client_pairs is None else client_pairs

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TLSFiles):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self.__slots__)


def certs_dir_for(host: str, certs_dirs: Sequence[str] = DEFAULT_CERTS_DIRS) -> TLSFiles:
    """The TLS files for ``host`` (``host[:port]``) from the first ``DIR/host`` that exists.

    ``*.crt`` are CA certificates; ``*.cert`` are client certificates, each needing
    the ``*.key`` of the same name (and the other way round): an unpaired file is a
    ConfigError, as in containers/image. ``client_cert``/``client_key`` are the first
    pair by name. No directory, or one we may not read, gives an empty TLSFiles.
    """
    if not host or "/" in host or "\0" in host or host in (".", ".."):
        raise ConfigError("invalid registry host %r for a certs.d lookup" % (host,))
    for base in certs_dirs:
        directory = os.path.join(base, host)
        try:
            names = sorted(os.listdir(directory))
        except OSError as err:
            if err.errno in (errno.ENOENT, errno.ENOTDIR, errno.EACCES, errno.EPERM):
                continue
            raise ConfigError("cannot read %s: %s" % (directory, err.strerror or err))
        files = TLSFiles(directory=directory)
        present = set(names)
        for name in names:
            path = os.path.join(directory, name)
            if os.path.isdir(path):
                continue
            if name.endswith(".crt"):
                files.ca_certs.append(path)
            elif name.endswith(".cert"):
                key = name[:-len(".cert")] + ".key"
                if key not in present:
                    raise ConfigError("%s: client certificate %s has no key %s (CA certificates must end in .crt)"
                                      % (directory, name, key))
                files.client_pairs.append((path, os.path.join(directory, key)))
            elif name.endswith(".key"):
                cert = name[:-len(".key")] + ".cert"
                if cert not in present:
                    raise ConfigError("%s: client key %s has no certificate %s" % (directory, name, cert))
        if files.client_pairs:
            files.client_cert, files.client_key = files.client_pairs[0]
        return files
    return TLSFiles()


class TLSSettings(namedtuple("TLSSettings", "verify cert insecure ca_certs", defaults=(True, None, False, ()))):
    """What an HTTP client needs, in the form ``requests`` takes.

    * ``verify`` (Union[bool, str]): False (no verification), True (the default trust store) or the path
      of a PEM bundle holding the default roots plus the extra CAs (``ca_certs``).
    * ``cert`` (Optional[Tuple[str, str]]): ``(certfile, keyfile)`` or None.
    * ``insecure`` (bool): plain HTTP may be tried when HTTPS fails (True exactly when
      ``verify`` is False).
    * ``ca_certs`` (Tuple[str, ...]): the extra CAs.
    """

    __slots__ = ()

    def ssl_context(self) -> ssl.SSLContext:
        """An SSLContext with the same policy, for clients that take one."""
        context = ssl.create_default_context()
        if self.verify is False:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        for path in self.ca_certs:
            context.load_verify_locations(cafile=path)
        if self.cert:
            context.load_cert_chain(self.cert[0], self.cert[1])
        return context


_WELL_KNOWN_CA_FILES = (
    "/etc/ssl/certs/ca-certificates.crt",   # Debian, Ubuntu, Alpine
    "/etc/pki/tls/certs/ca-bundle.crt",     # Fedora, RHEL
    "/etc/ssl/ca-bundle.pem",               # SUSE
    "/etc/ssl/cert.pem",                    # BSD, macOS
)


def default_ca_files(env: Optional[Mapping[str, str]] = None) -> List[str]:
    """The default roots: ``$REQUESTS_CA_BUNDLE``, the system store file and certifi's bundle."""
    env = os.environ if env is None else env
    paths = ssl.get_default_verify_paths()
    system = [p for p in (paths.cafile, paths.openssl_cafile) if p and os.path.isfile(p)]
    if not system:
        system = [p for p in _WELL_KNOWN_CA_FILES if os.path.isfile(p)][:1]
    candidates = [env.get("REQUESTS_CA_BUNDLE") or ""] + system
    try:
        import certifi  # shipped with requests
        candidates.append(certifi.where())
    except ImportError:  # pragma: no cover - requests always brings certifi
        pass
    files: List[str] = []
    seen = set()
    for path in candidates:
        if path and os.path.isfile(path) and os.path.realpath(path) not in seen:
            seen.add(os.path.realpath(path))
            files.append(path)
    return files


def _private_dir(path: str) -> None:
    """Create ``path`` 0700 and make sure it is ours and private (it may live in /tmp)."""
    makedirs_private(path)
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise ConfigError("refusing to use %s for CA bundles: it must be a directory owned by uid %d "
                          "with mode 0700" % (path, os.getuid()))


def ca_bundle(extra: Sequence[str], base_files: Optional[Sequence[str]] = None,
              bundle_dir: Optional[str] = None) -> str:
    """Write (once) a PEM bundle of ``base_files`` (default roots) plus ``extra``; return its path.

    The file is named by the hash of its content, in ``bundle_dir`` (default: a private
    directory under the temporary directory), so equal inputs share one file.
    """
    parts = []
    for path in list(default_ca_files() if base_files is None else base_files) + list(extra):
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError as err:
            raise ConfigError("cannot read CA certificate file %s: %s" % (path, err.strerror or err))
        if path in extra and b"-----BEGIN CERTIFICATE-----" not in data:
            raise ConfigError("CA certificate file %s holds no PEM certificate" % path)
        parts.append(data.strip(b"\n") + b"\n")
    content = b"".join(parts)
    directory = bundle_dir or os.path.join(tempfile.gettempdir(), "undock-oci-ca-%d" % os.getuid())
    _private_dir(directory)
    bundle = os.path.join(directory, "ca-%s.pem" % hashlib.sha256(content).hexdigest()[:32])
    if not os.path.isfile(bundle):
        atomic_write(bundle, content, mode=0o644)
    return bundle


def resolve_tls(host: str, opts: Optional[RegistryOptions] = None,
                config: Optional[RegistriesConfig] = None, insecure: Optional[bool] = None,
                home: Optional[str] = None, base_ca_files: Optional[Sequence[str]] = None,
                bundle_dir: Optional[str] = None) -> TLSSettings:
    """The TLS settings for ``host[:port]``: task options first, then the files.

    * Verification: ``opts.validate_certs`` if set; else not ``insecure`` if the caller
      passes it (``PullSource.insecure`` for a mirror); else not
      ``config.is_insecure(host)``.
    * CAs: ``opts.ca_cert`` and/or the certs.d ``*.crt`` files, added to the default
      roots in a generated bundle (see ``ca_bundle``).
    * Client certificate: ``opts.client_cert``/``client_key``, else the first certs.d pair.
    * certs.d directories: ``opts.certs_dir`` alone if set; else
      ``~/.config/containers/certs.d``, ``/etc/containers/certs.d``, ``/etc/docker/certs.d``,
      first ``DIR/host`` found wins.
    """
    opts = opts or RegistryOptions()
    if opts.certs_dir:
        dirs: Sequence[str] = (opts.certs_dir,)
    else:
        home = os.path.expanduser("~") if home is None else home
        dirs = ((os.path.join(home, USER_CERTS_DIR),) if home else ()) + DEFAULT_CERTS_DIRS
    files = certs_dir_for(host, dirs)

    if opts.validate_certs is not None:
        verify_on = opts.validate_certs
    elif insecure is not None:
        verify_on = not insecure
    else:
        verify_on = not (config is not None and config.is_insecure(host))

    cert: Optional[Tuple[str, str]] = None
    if opts.client_cert and opts.client_key:
        cert = (opts.client_cert, opts.client_key)
    elif files.client_cert and files.client_key:
        cert = (files.client_cert, files.client_key)

    extra = ([opts.ca_cert] if opts.ca_cert else []) + files.ca_certs
    verify: Union[bool, str] = False
    if verify_on:
        verify = ca_bundle(extra, base_ca_files, bundle_dir) if extra else True
    return TLSSettings(verify=verify, cert=cert, insecure=not verify_on, ca_certs=tuple(extra))
