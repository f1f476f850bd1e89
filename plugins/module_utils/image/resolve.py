# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a reference resolves to: at a source, one platform's manifest and config; in the
store, the entry a reference by digest names. Shared by the full engine (copy.py, ops.py)
and the no-op answered from the store's files (quick.py), so it imports only the model."""

from __future__ import annotations

from ..common.errors import ManifestError, UndockError
from ..model.imageconfig import check_config, parse_config
from ..model.manifest import Manifest
from ..model.pending import PendingChecks
from ..model.platform import Platform, host_platform, normalize_platform, platform_matches
from ..model.reference import Reference, parse_reference
from ..storage.peek import SOURCE_DIGEST, entry_name, image_diff_ids, original_manifest

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, Iterable, Optional
    from .interfaces import ImageSource


class ResolvedImage:
    """A single-platform image at a source: its manifest, config and where it came from."""

    __slots__ = ("manifest", "config", "config_raw", "top_digest", "platform", "checks")

    def __init__(self, manifest: Manifest, config: Dict[str, Any], config_raw: bytes, top_digest: str,
                 platform: Dict[str, str], checks: Optional[PendingChecks] = None) -> None:
        self.manifest = manifest
        self.config = config
        self.config_raw = config_raw
        self.top_digest = top_digest    # what the reference resolved to: an index digest or the manifest's own
        self.platform = platform
        #: the schema checks of the documents not run yet (resolve_image with ``checked=False``)
        self.checks = PendingChecks() if checks is None else checks

    def with_top_digest(self, top_digest: str) -> "ResolvedImage":
        return ResolvedImage(self.manifest, self.config, self.config_raw, top_digest, self.platform, self.checks)


def resolve_image(source: "ImageSource", platform: Optional[Any] = None, checked: bool = True) -> ResolvedImage:
    """Read the manifest (choosing ``platform`` from an index) and the config, verified.

    With ``checked`` False, the schema checks of the index, manifest and config (for a source
    whose documents need them) are not run but left in ``ResolvedImage.checks``: the caller
    runs them before it names anything, and before it reports any other error (copy_image)."""
    checks = PendingChecks()
    pending = None if checked else checks
    with checks.first():
        top = source.get_manifest(checks=pending)
        explicit = platform is not None
        wanted: Platform = normalize_platform(platform) if explicit else host_platform()
        manifest = top
        if top.is_index:
            manifest = source.get_manifest(top.select(wanted)["digest"], checks=pending)
            if manifest.is_index:
                raise ManifestError("%s: nested index %s is not supported" % (source.describe(), manifest.digest))
        config_raw = source.read_blob(manifest.config)
        config = parse_config(config_raw, manifest.config, source.describe(), validate=checked and not source.trusted)
        if not (checked or source.trusted):
            checks.add(lambda: check_config(config, manifest.config, source.describe()))
        image_platform = {"os": str(config.get("os") or "linux"),
                          "architecture": str(config.get("architecture") or "")}
        if config.get("variant"):
            image_platform["variant"] = str(config["variant"])
        if explicit and not top.is_index:
            got = normalize_platform(image_platform)
            if (got.os, got.architecture) != (wanted.os, wanted.architecture):
                raise ManifestError("%s is for %s, not the requested platform %s"
                                    % (source.describe(), got, wanted))
    return ResolvedImage(manifest=manifest, config=config, config_raw=config_raw, top_digest=top.digest,
                         platform=image_platform, checks=checks)


def stored_by_digest(entries: Iterable[Dict[str, Any]], ref: Reference, platform: Platform) -> Optional[Reference]:
    """The store name, among the index.json ``entries``, of the image of ``ref``'s repository
    whose manifest is ``ref.digest``, or whose source index is and whose platform is ``platform``."""
    repository = str(ref.with_tag(None).with_digest(None))
    for entry in entries:
        try:
            stored = parse_reference(entry_name(entry), default_tag=None)
        except UndockError:
            continue
        if str(stored.with_tag(None).with_digest(None)) != repository:
            continue
        if ref.digest in (entry.get("digest"), original_manifest(entry).get("digest")):
            return stored
        if entry["annotations"].get(SOURCE_DIGEST) == ref.digest and platform_matches(platform, entry.get("platform")):
            return stored
    return None


def layer_diff_ids(manifest: Manifest, config: Dict[str, Any]) -> Dict[str, str]:
    """Layer blob digest -> diff ID, pairing manifest layers with the config's rootfs."""
    diff_ids = image_diff_ids(config)
    if len(diff_ids) != len(manifest.layers):
        raise ManifestError("manifest %s has %d layers but its config lists %d diff IDs"
                            % (manifest.digest, len(manifest.layers), len(diff_ids)))
    return {layer["digest"]: diff_id for layer, diff_id in zip(manifest.layers, diff_ids)}
