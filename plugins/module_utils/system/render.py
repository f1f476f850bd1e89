# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Everything one deployment writes, computed from a checked-out rootfs and the options,
without touching the host: the values, config.json, the units, the tmpfiles entries and
the renamed host paths. The same for a real run and for check mode, and for comparing
with what is installed."""

from __future__ import annotations

import json
import os

from ..runtime.options import host_bounding_set
from .defaults import default_config
from .errors import SystemContainerError
from .exports import EXPORTS, MANIFEST, TEMPLATES, Exports, read_exports
from .listen import Listener
from .templates import check_values, default_values, exec_directives, merge_values, substitute
from .units import DEFAULT_SERVICE_TEMPLATE, DEFAULT_SOCKET_TEMPLATE, Dependencies, check_socket, finish_service, merge_dependencies, socket_text

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, List, Mapping, Optional

CONFIG = "config.json"


def service_file(name: str) -> str:
    return "%s.service" % name


def socket_file(name: str) -> str:
    return "%s.socket" % name


def tmpfiles_file(name: str) -> str:
    return "tmpfiles-%s.conf" % name


class Options:
    """The options of one system container, checked."""

    __slots__ = ("name", "image", "values", "deps", "listen", "network")

    def __init__(self, name: str, image: str, values: Optional[Dict[str, str]] = None,
                 deps: Optional[Dependencies] = None, listen: Optional[List[Listener]] = None, network: str = "host"):
        self.name = name
        self.image = image
        self.values = {} if values is None else values
        self.deps = Dependencies() if deps is None else deps
        self.listen = [] if listen is None else listen
        self.network = network

    def describe(self) -> Dict[str, Any]:
        return dict(self.deps.as_dict(), values=dict(self.values), listen=[item.line() for item in self.listen],
                    network=self.network)


class ImageFacts:
    __slots__ = ("name", "digest", "image_id", "config")

    def __init__(self, name: str, digest: str, image_id: str, config: Dict[str, Any]):
        self.name = name            # the store name
        self.digest = digest        # manifest digest as pulled
        self.image_id = image_id    # config digest
        self.config = config


class Rendered:
    __slots__ = ("values", "files", "exports", "renames", "has_service", "warnings")

    def __init__(self, values: Dict[str, str], files: Dict[str, str], exports: Exports, renames: Dict[str, str],
                 has_service: bool, warnings: Optional[List[str]] = None):
        self.values = values
        self.files = files              # file name in the slot -> text (config.json, units, tmpfiles)
        self.exports = exports
        self.renames = renames
        self.has_service = has_service
        self.warnings = [] if warnings is None else warnings

    def units(self, name: str) -> List[str]:
        return [f for f in (service_file(name), socket_file(name)) if f in self.files]

    def main_unit(self, name: str) -> Optional[str]:
        """What is enabled and started: the socket when there is one, else the service."""
        units = self.units(name)
        return units[-1] if units else None


def _template_name(kind: str) -> str:
    return "%s/%s" % (EXPORTS, TEMPLATES[kind])


def render(options: Options, image: ImageFacts, rootfs: str, destdir: str, runtime: str,
           previous: Optional[Mapping[str, str]] = None) -> Rendered:
    """What the deployment at ``destdir`` (its rootfs at ``rootfs``) is made of."""
    name = options.name
    exports = read_exports(rootfs)
    warnings = list(exports.warnings)
    user = check_values(options.values, "values")
    runtime = user.get("RUNTIME") or exports.default_values.get("RUNTIME") or runtime
    installer = {"NAME": name, "DESTDIR": destdir, "HOST_UID": str(os.getuid()), "HOST_GID": str(os.getgid()),
                 "IMAGE_ID": image.image_id, "IMAGE_NAME": image.name}
    installer.update(exec_directives(runtime, name, destdir))
    values, more = merge_values(name, defaults=default_values(runtime, host_bounding_set()),
                                manifest_defaults=exports.default_values, user=user, installer=installer,
                                previous=previous)
    warnings.extend(more)
    files: Dict[str, str] = {}
    tmpfiles: List[str] = []
    if "config" in exports.templates:
        text = substitute(exports.templates["config"], values, _template_name("config"))
        try:
            json.loads(text)
        except ValueError as err:
            raise SystemContainerError("%s, once its variables are replaced, is not valid JSON: %s"
                                       % (_template_name("config"), err)) from None
        files[CONFIG] = text
    else:
        files[CONFIG], tmpfiles = default_config(name, rootfs, image.config, image.name, image.digest, values,
                                                 options.network)
    has_socket = bool(options.listen) or "socket" in exports.templates
    has_service = not exports.no_container_service
    if has_service:
        template = exports.templates.get("service")
        source = _template_name("service") if template is not None else "the default service template"
        text = substitute(template if template is not None else DEFAULT_SERVICE_TEMPLATE, values, source)
        text = merge_dependencies(text, options.deps)
        files[service_file(name)] = finish_service(text, name, service_file(name), has_socket)
    elif has_socket or any(options.deps.as_dict().values()):
        raise SystemContainerError("%s has noContainerService in its %s/%s: it installs no service, so listen and "
                                   "the dependency options do not apply" % (image.name, EXPORTS, MANIFEST))
    if has_socket:
        template = exports.templates.get("socket")
        source = _template_name("socket") if template is not None else "the default socket template"
        template = substitute(template if template is not None else DEFAULT_SOCKET_TEMPLATE, values, source)
        text = socket_text(template, options.listen)
        check_socket(text, socket_file(name))
        files[socket_file(name)] = text
    if "tmpfiles" in exports.templates:
        text = substitute(exports.templates["tmpfiles"], values, _template_name("tmpfiles"))
        tmpfiles = [text.rstrip("\n")] + tmpfiles if text.strip() else tmpfiles
    if tmpfiles:
        files[tmpfiles_file(name)] = "\n".join(tmpfiles) + "\n"
    manifest = "%s/%s" % (EXPORTS, MANIFEST)
    renames = {source: substitute(target, values, "%s: renameFiles" % manifest)
               for source, target in exports.rename_files.items()}
    return Rendered(values=values, files=files, exports=exports, renames=renames, has_service=has_service,
                    warnings=warnings)
