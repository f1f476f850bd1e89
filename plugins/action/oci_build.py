# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The action of ``oci_build``: first the small ``oci_build_quick`` module, then, only when it
does not answer, the ``oci_build`` module.

Ansible parses, on the controller, every file that a module's imports reach, once per playbook:
for ``oci_build`` that is the whole build engine, for ``oci_build_quick`` only the no-op answer
(module_utils/build_module.py, build/quick.py). A rebuild with nothing changed, the most common
build task, then never ships the engine. Both modules answer a no-op with the same code, so the
result is the same either way. An async task runs ``oci_build`` directly."""

from __future__ import annotations

from ansible.plugins.action import ActionBase
from ansible.utils.vars import merge_hash

QUICK_MODULE = "undock.oci.oci_build_quick"
FULL_MODULE = "undock.oci.oci_build"


class ActionModule(ActionBase):

    _supports_check_mode = True
    _supports_async = True

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp  # tmp no longer has any effect

        wrap_async = self._task.async_val and not self._connection.has_native_async
        answer = None
        if not self._task.async_val:
            answer = self._execute_module(module_name=QUICK_MODULE, module_args=self._task.args, task_vars=task_vars)
            if answer.get("failed") or answer.get("quick") is False:
                answer = None  # the full module decides, and reports its own errors
        if answer is None:
            answer = self._execute_module(module_name=FULL_MODULE, module_args=self._task.args, task_vars=task_vars,
                                          wrap_async=wrap_async)
        result = merge_hash(result, answer)

        if not wrap_async:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return result
