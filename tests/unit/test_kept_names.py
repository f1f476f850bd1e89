# -*- coding: utf-8 -*-
"""A working container's name becomes a directory name and a runc container id: only a
plain name passes, with a message naming it."""

from __future__ import annotations

import pytest

from ansible_collections.undock.oci.plugins.module_utils.build.errors import BuildError
from ansible_collections.undock.oci.plugins.module_utils.build.kept import kept_id


def test_a_plain_name_gets_its_id():
    assert kept_id("busybox-httpd.build_1") == "w.busybox-httpd.build_1"


@pytest.mark.parametrize("bad", ["", "../x", "a/b", "a\n", ".hidden", "-x", "a" * 65, None, 3])
def test_other_names_are_refused(bad):
    with pytest.raises(BuildError, match="not a valid working container name"):
        kept_id(bad)
