# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The few libc calls the standard library does not wrap (mount, unshare, sync_file_range),
looked up once through ctypes, which is imported only when one is first wanted: a container
start would otherwise pay for ctypes whether it mounts through libc or not."""

from __future__ import annotations

import functools

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Callable, Optional, Tuple

#: The C prototypes used, as ctypes type names: (argument types, result type).
PROTOTYPES = {
    "mount": (("c_char_p", "c_char_p", "c_char_p", "c_ulong", "c_char_p"), "c_int"),
    "unshare": (("c_int",), "c_int"),
    "sync_file_range": (("c_int", "c_longlong", "c_longlong", "c_uint"), "c_int"),
}


@functools.lru_cache(maxsize=None)
def libc_function(name: str) -> Optional[Callable[..., int]]:
    """libc's ``name`` (one of PROTOTYPES), typed; None where ctypes or the function is missing.
    It sets errno for ``last_errno``."""
    arguments, result = PROTOTYPES[name]
    try:
        import ctypes
        function = getattr(ctypes.CDLL(None, use_errno=True), name)
        function.argtypes = [getattr(ctypes, type_name) for type_name in arguments]
        function.restype = getattr(ctypes, result)
        return function
    except (ImportError, OSError, AttributeError):
        return None


def last_errno() -> int:
    """errno as the last libc_function call left it (ctypes' copy of it, per thread)."""
    import ctypes  # already loaded by the libc_function that failed
    return ctypes.get_errno()


def libc_functions(*names: str) -> Optional[Tuple[Callable[..., int], ...]]:
    """Several of them at once, or None if any is missing."""
    functions = tuple(libc_function(name) for name in names)
    return None if any(function is None for function in functions) else functions
