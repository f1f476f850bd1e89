# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Running CNI plugins as the CNI spec says: the plugin named by ``type`` found in CNI_PATH,
the parameters in CNI_* variables, the configuration on stdin, the result (or the error
``{"code", "msg", "details"}``) on stdout. Lists run in order for ADD and CHECK, in reverse
for DEL, and stop at the first failure. Every call is bounded by a timeout."""

from __future__ import annotations

import json
import os

from .conflist import plugin_config
from .errors import CniPluginError
from .plan import DEFAULT_CNI_PATH, PLUGIN_TIMEOUT

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional, Sequence
# plugins run iptables, ip6tables and sysctl-like helpers through PATH
PLUGIN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
MAX_OUTPUT = 4 << 20
# portmap 1.1's CHECK also looks for IPv6 rules it never made for an IPv4-only container and
# fails (containernetworking/plugins#819): CHECK skips it.
CHECK_SKIPS = ("portmap",)
# iptables' words for a rule or chain that is not there (iptables-nft and -legacy)
ALREADY_GONE = ("does not exist", "No chain/target/match by that name", "does a matching rule exist in that chain")


def find_plugin(plugin: str, cni_path: Sequence[str], container_id: str, command: str) -> str:
    if not plugin or "/" in plugin or plugin.startswith("."):
        raise CniPluginError(plugin or "''", command, container_id, "not a plugin name")
    for directory in cni_path:
        candidate = os.path.join(directory, plugin)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise CniPluginError(plugin, command, container_id, "not found in %s (Debian package containernetworking-plugins)"
                         % ":".join(cni_path))


def _decode(data: bytes) -> Optional[Any]:
    try:
        return json.loads(data.decode("utf-8")) if data.strip() else None
    except ValueError:
        return None


def run_plugin(config: Dict[str, Any], command: str, container_id: str, netns: str, ifname: str,
               cni_path: Sequence[str] = DEFAULT_CNI_PATH, timeout: float = PLUGIN_TIMEOUT) -> Optional[Dict[str, Any]]:
    """One plugin call; its parsed stdout (the result of an ADD), or None when it printed nothing."""
    plugin = str(config.get("type", ""))
    binary = find_plugin(plugin, cni_path, container_id, command)
    env = {"PATH": PLUGIN_PATH, "LC_ALL": "C", "CNI_COMMAND": command, "CNI_CONTAINERID": container_id,
           "CNI_NETNS": netns, "CNI_IFNAME": ifname, "CNI_PATH": ":".join(cni_path)}
    import subprocess  # here: a host-network start runs no plugin, and the module costs every start
    try:
        proc = subprocess.run([binary], input=json.dumps(config).encode("utf-8"), env=env, capture_output=True,
                              timeout=timeout, check=False, cwd="/")
    except subprocess.TimeoutExpired:
        raise CniPluginError(plugin, command, container_id, "no answer after %g seconds (killed)" % timeout)
    except OSError as err:
        raise CniPluginError(plugin, command, container_id, "cannot run %s: %s" % (binary, err))
    answer = _decode(proc.stdout[:MAX_OUTPUT])
    if proc.returncode != 0:
        stderr = proc.stderr.decode("utf-8", "replace").strip()[-1000:]
        if isinstance(answer, dict):
            problem = "exit %d: %s" % (proc.returncode, answer.get("msg", "no msg"))
            if answer.get("details"):
                problem += ": %s" % answer["details"]
            raise CniPluginError(plugin, command, container_id, problem, answer)
        text = proc.stdout.decode("utf-8", "replace").strip()[-1000:]
        raise CniPluginError(plugin, command, container_id, "exit %d: %s" % (proc.returncode, stderr or text or "no output"))
    if command == "ADD" and not isinstance(answer, dict):
        raise CniPluginError(plugin, command, container_id, "the result is not a JSON object: %r"
                             % proc.stdout[:200].decode("utf-8", "replace"))
    return answer if isinstance(answer, dict) else None


def add_list(conflist: Dict[str, Any], container_id: str, netns: str, ifname: str, runtime_config: Dict[str, Any],
             progress: Optional[Callable[[Dict[str, Any]], None]] = None, **options: Any) -> Dict[str, Any]:
    """ADD every plugin in order, each given the previous one's result; the last result.
    ``progress`` receives each intermediate result (to persist it before the next step)."""
    if not conflist.get("plugins"):
        raise CniPluginError("(none)", "ADD", container_id, "network %s has no plugins" % conflist.get("name"))
    result: Dict[str, Any] = {}
    for plugin in conflist["plugins"]:
        config = plugin_config(conflist, plugin, runtime_config, result or None)
        result = run_plugin(config, "ADD", container_id, netns, ifname, **options) or {}
        if progress is not None:
            progress(result)
    return result


def check_list(conflist: Dict[str, Any], container_id: str, netns: str, ifname: str, runtime_config: Dict[str, Any],
               prev_result: Dict[str, Any], **options: Any) -> None:
    for plugin in conflist["plugins"]:
        if plugin.get("type") in CHECK_SKIPS:
            continue
        run_plugin(plugin_config(conflist, plugin, runtime_config, prev_result), "CHECK", container_id, netns, ifname,
                   **options)


def already_gone(error: CniPluginError) -> bool:
    """Whether a DEL failed only because iptables found its rule or chain removed already (a
    state file lost, a detach repeated after a crash, a flush from outside)."""
    text = str(error)
    return "iptables" in text and any(words in text for words in ALREADY_GONE)


def del_list(conflist: Dict[str, Any], container_id: str, netns: str, ifname: str, runtime_config: Dict[str, Any],
             prev_result: Optional[Dict[str, Any]], **options: Any) -> List[str]:
    """DEL every plugin in reverse order, whether or not its ADD ran (plugins' DEL is idempotent).
    Every plugin runs even when one before it failed, so that the lease and the interface go
    whatever portmap or firewall said; a failure over rules already gone is returned (as text),
    the first other failure raised once all have run."""
    gone: List[str] = []
    failure: Optional[CniPluginError] = None
    for plugin in reversed(conflist["plugins"]):
        try:
            run_plugin(plugin_config(conflist, plugin, runtime_config, prev_result), "DEL", container_id, netns,
                       ifname, **options)
        except CniPluginError as err:
            if already_gone(err):
                gone.append(str(err))
            elif failure is None:
                failure = err
    if failure is not None:
        raise failure
    return gone
