# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Container networking: ``network: none | host | bridge | container:NAME``, ``ports`` and ``dns``.

plan.py        plan_network(options) -> NetworkPlan (pure: validation and normalisation only)
lifecycle.py   attach(container_id, plan, state_dir, run_root) -> NetworkState; detach(...); check(...)
netns.py       persistent network namespaces under ``run_root/netns`` (nsfs bind mounts)
cni.py         running one CNI plugin or a whole list (ADD, CHECK, DEL) with a timeout
conflist.py    the CNI network configuration lists undock writes
ports.py       ``[hostip:]hostport:ctrport[/tcp|udp]`` parsing and the portmap capability
dnsfiles.py    the per-container /etc/hosts and /etc/resolv.conf
state.py       NetworkState: what attach did, persisted so that detach can undo it after a crash
"""
