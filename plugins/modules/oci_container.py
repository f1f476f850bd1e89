#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: oci_container
short_description: Run OCI containers with runc, with no container engine or daemon
version_added: 0.2.0
description:
  - Creates, starts, stops and removes a container from an image of the local content store (pulled per O(pull)),
    running it with C(runc) (or C(crun), see O(runtime)). No podman, docker or daemon is needed on the target.
  - The rootfs is an overlay of the image's unpacked layers with an upper directory of the container's own under
    O(storage_root)C(/containers/NAME), which also holds the OCI bundle (RV(container.bundle)) and the logs.
    While the container exists its image is in use, so M(undock.oci.oci_image) refuses to remove it and
    M(undock.oci.oci_prune) keeps it, naming the container.
  - Without systemd, each started container is held by a small monitor process of its own, detached from the
    task, which records the exit code and start and finish times, writes the output to a log file capped at
    10 MiB (one rotated file kept), and applies O(restart_policy).
  - When systemd is PID 1 (C(/run/systemd/system) exists), each started container is a transient systemd unit
    instead, C(undock-NAME.service) (C(undock-STORE-NAME.service) for a store other than C(/var/lib/undock);
    RV(container.unit)), which runs C(runc run) in the foreground. systemd applies O(restart_policy)
    (C(Restart=), C(StartLimitBurst=) for V(on-failure:N)) and keeps the exit status; the output goes to the same
    log file, capped the same way (the unit's main process is the monitor's log writer, which runs C(runc run));
    C(systemctl status) shows the container, and stopping and removing it go
    through C(systemctl stop). An exit status of 128 + O(stop_signal) (143 for SIGTERM) counts as a clean exit
    there, so V(on-failure) does not restart a container that ended that way.
  - Runtime state lives under O(run_root) (tmpfs). After a reboot every container reads as stopped, and
    O(state=started) mounts its rootfs and starts it again.
  - The desired container is normalised before it is compared with the one that exists (the image's defaults
    merged, lists sorted, V(64m) equal to V(67108864), V(net_raw) equal to V(CAP_NET_RAW), env values as strings),
    so an unchanged task reports RV(ignore:changed=false). C(--diff) shows each field that differs.
  - When the only differences are limits that the OCI runtime changes in a running container (O(memory),
    O(cpus) and O(pids_limit), through C(runc update)), the container is updated in place, without a restart;
    its cgroups take the new limits, and its C(config.json) and record keep them for its next start. A stopped
    or created container only has its files updated. If the runtime refuses the update (a memory limit below
    what the container uses, which the kernel cannot reclaim), the container is recreated with the new limits,
    with a warning saying why, as after any other change. With O(runtime=crun), removing O(cpus) or
    O(pids_limit) recreates the container, for C(crun update) cannot lift them. Any other difference, alone or
    together with a limit, recreates the container.
  - Networking uses the real CNI plugins (Debian and RHEL package C(containernetworking-plugins)). By default
    (O(network=bridge), as in podman) the container gets a network namespace of its own on the bridge C(undock0)
    (network C(undock), subnet C(10.90.0.0/16), clear of podman's C(10.88.0.0/16)), with masquerading to the
    outside and O(ports) published on the host. The namespace is made when the container starts, kept while its
    monitor restarts it, and removed (with its veth, IPAM lease and firewall rules) when it is stopped or removed.
options:
  name:
    description:
      - Name of the container (letters, digits, C(_), C(.), C(-); at most 128 characters).
    type: str
    required: true
  state:
    description:
      - V(present) makes the container exist (created, not started). A running container that had to be
        recreated is started again.
      - V(started) makes it exist and run.
      - V(stopped) makes it exist and not run.
      - V(restarted) makes it exist and restarts it (always changed).
      - V(absent) stops and removes it, its rootfs mount, upper layer, logs and the anonymous volumes of the
        image's C(Volumes). Named volumes are kept.
    type: str
    choices: [present, started, stopped, absent, restarted]
    default: started
  image:
    description:
      - Image to run, as given to M(undock.oci.oci_image). Required to create the container; with an existing
        container and no O(image), the container is not compared, only brought to O(state).
    type: str
  pull:
    description:
      - Pull policy for O(image), as in M(undock.oci.oci_image). A new digest recreates the container.
    type: str
    choices: [missing, newer, always, never]
    default: missing
  policy:
    description:
      - The trust policy (containers-policy.json(5)) the pull of O(image) must satisfy, as O(undock.oci.oci_image#module:policy)
        describes it, given as a path to a C(policy.json) or as the policy itself (a dict); without it, the standard
        locations are used.
      - A rejected image is not pulled and no container is created; the error names the requirement and why.
        An image in use by a container that a re-check (O(pull=always)) rejects stays in the store, and the task fails
        saying so.
    type: raw
  command:
    description:
      - The command, replacing the image's C(Cmd). A string is split into words like a shell would, without
        expansions; a list is used as is.
      - It is appended to the entrypoint (O(entrypoint), else the image's C(Entrypoint)), as with C(docker run).
    type: raw
  entrypoint:
    description:
      - Replaces the image's C(Entrypoint). As with C(docker run --entrypoint), it also clears the image's C(Cmd);
        only O(command) follows it. An empty list resets it.
    type: raw
  env:
    description:
      - Environment variables, merged over the image's C(Env) (these win). Values are turned into strings.
    type: dict
  user:
    description:
      - V(USER[:GROUP]), names or numbers, resolved from the image's C(/etc/passwd) and C(/etc/group) (never
        following a link out of the rootfs). Default the image's C(User), else root.
    type: str
  working_dir:
    description: Working directory of the process, an absolute path. Default the image's C(WorkingDir), else C(/).
    type: str
  hostname:
    description: Host name in the container. Default the container's name (at most 63 characters).
    type: str
  volumes:
    description:
      - Bind mounts V(HOST:CONTAINER[:ro|rw]) (HOST an absolute path), or named volumes V(NAME:CONTAINER[:ro|rw]),
        kept under O(storage_root)C(/volumes/NAME) and filled with what the image holds at that path when made.
      - The image's C(Volumes) that no mount covers get anonymous volumes of the container.
    type: list
    elements: str
  mounts:
    description:
      - Mounts as dictionaries with C(type) (V(bind), V(volume) or V(tmpfs)), C(source) (a host path for bind, a
        volume name for volume, none for tmpfs), C(target), C(read_only), and C(options) for tmpfs (V(size=64m),
        V(mode=1777)...).
    type: list
    elements: dict
  tmpfs:
    description: tmpfs mounts, V(/path[:OPTIONS]) (OPTIONS as V(size=64m,mode=1777)), always V(nosuid,nodev).
    type: list
    elements: str
  read_only:
    description: Mount the rootfs read-only.
    type: bool
    default: false
  cap_add:
    description:
      - Capabilities to add to docker's default set, with or without V(CAP_), any case; V(ALL) for every
        capability the host allows. A capability outside the host's bounding set is an error.
    type: list
    elements: str
  cap_drop:
    description: Capabilities to drop from docker's default set (V(ALL) drops them all before O(cap_add)).
    type: list
    elements: str
  privileged:
    description:
      - Every capability the host allows, no masked or read-only paths in C(/proc), C(/sys) and cgroups
        writable, and every device allowed in the device cgroup (host devices are not bound in).
    type: bool
    default: false
  no_new_privileges:
    description: Set C(no_new_privs), so that setuid binaries and file capabilities grant nothing.
    type: bool
    default: false
  memory:
    description:
      - Memory limit, as bytes or with a unit (V(64m), V(1.5g); binary units).
      - A change (or removal) is applied to a running container in place, without a restart.
    type: str
  cpus:
    description:
      - CPU limit, as a number of CPUs (V(0.5)); a CFS quota over a 100 ms period.
      - A change (or removal) is applied to a running container in place, without a restart.
    type: float
  pids_limit:
    description:
      - Most processes the container may have; V(0) or less means no limit.
      - A change (or removal) is applied to a running container in place, without a restart.
    type: int
  ulimits:
    description:
      - Resource limits, as a list of V(NAME=SOFT[:HARD]) or a dictionary NAME -> V(SOFT[:HARD]); NAME as
        V(nofile) or V(RLIMIT_NOFILE); V(unlimited) or V(-1) for no limit.
      - Raising a hard limit above the host's needs C(CAP_SYS_RESOURCE).
      - These are limits of the container's processes, not of its cgroups, so a change recreates the container.
    type: raw
  sysctls:
    description: Namespaced kernel parameters to set in the container, as a dictionary.
    type: dict
  labels:
    description: Labels of the container (kept in its record, returned, compared).
    type: dict
  annotations:
    description: Annotations written into the OCI runtime configuration.
    type: dict
  stop_signal:
    description:
      - Signal that stops the container (V(SIGTERM), V(TERM), V(15)). Default the image's C(StopSignal).
      - Real-time signals as docker writes them, V(SIGRTMIN+3) (what stops systemd as PID 1).
    type: str
  stop_timeout:
    description: Seconds to wait after O(stop_signal) before C(SIGKILL).
    type: int
    default: 10
  restart_policy:
    description:
      - V(no), V(on-failure) (restart on a non-zero exit), V(on-failure:N) (at most N restarts), V(always) or
        V(unless-stopped) (restart whatever the exit status, unless stopped by this module).
      - Restarts are spaced by a back-off doubling from 0.1 s to 30 s, reset after 10 s of running, by the monitor
        and under systemd alike (there C(RestartSec=) is the first 0.1 s and the unit's C(ExecStartPre=) hook waits
        the rest; the container reads as V(restarting) meanwhile). V(always) and V(unless-stopped) never give up.
      - A reboot restarts nothing by itself without systemd; run the task with O(state=started) again.
    type: str
    default: "no"
  runtime:
    description:
      - OCI runtime to run the container with, V(runc), V(crun) or an absolute path.
      - crun refuses hybrid cgroups (v1 with a v2 hierarchy that holds controllers, as on Debian 12 without
        systemd); there it is run in a private mount namespace without C(/sys/fs/cgroup/unified), where it
        sees cgroup v1 alone and runs.
    type: str
    default: runc
  network:
    description:
      - V(bridge) (the default) attaches the container to the CNI bridge network C(undock) with an address of
        its own; O(ports) are published from the host.
      - V(none) gives it a network namespace of its own with loopback only.
      - V(host) shares the host's network.
      - V(container:NAME) joins the network namespace of the running container NAME (its address, its ports);
        NAME must be started first, with a network other than V(host).
      - Every container gets C(/etc/hosts) (its host name at its address) and C(/etc/resolv.conf) of its own.
        Without O(dns), the host's name servers are used, except loopback ones (such as 127.0.0.53) that a
        container in its own namespace cannot reach.
      - Hosts without the CNI plugins fail with an error naming the package C(containernetworking-plugins).
    type: str
    default: bridge
  ports:
    description:
      - Ports to publish, V([HOSTIP:]HOSTPORT:CONTAINERPORT[/tcp|udp]) (equal-length ranges such as
        V(8000-8001:80-81) too), reachable from the host including at 127.0.0.1. Only with O(network=bridge).
      - A host port must be given. The list is compared sorted and expanded, so V(8080:80) equals
        V(0.0.0.0:8080:80/tcp); a change recreates the container.
    type: list
    elements: str
  dns:
    description:
      - Name servers (IP addresses) written into the container's C(/etc/resolv.conf), in this order. Not with
        O(network=container:NAME), which uses the resolver of NAME.
    type: list
    elements: str
  recreate:
    description: Recreate the container even when nothing changed.
    type: bool
    default: false
  force_restart:
    description: With O(state=started), restart a running container even when nothing changed.
    type: bool
    default: false
  log_lines:
    description: How many of the last lines of the log to return in RV(container.logs).
    type: int
    default: 20
requirements:
  - Python 3.9 or newer on the managed host
  - requests (Debian and RHEL package C(python3-requests)) and jsonschema (C(python3-jsonschema)), to pull
  - cryptography (C(python3-cryptography)), only to verify signatures a O(policy) asks for
  - runc (Debian and RHEL package C(runc)) or crun, overlayfs, and root
extends_documentation_fragment:
  - undock.oci.registry
  - undock.oci.registry.names
  - undock.oci.storage
attributes:
  check_mode:
    support: full
    description: The store is read; nothing is pulled, written, mounted, started or stopped.
  diff_mode:
    support: full
    description: Shows every field of the normalised container that differs, and the state.
author:
  - undock.oci developers (@undock-oci)
"""

EXAMPLES = r"""
- name: Run a web server that restarts when it fails
  undock.oci.oci_container:
    name: web
    image: docker.io/library/busybox:1.36
    command: httpd -f -p 8080 -h /srv
    ports:
      - 127.0.0.1:8080:8080
      - 8443:8443/tcp
    dns: [192.0.2.53]
    volumes:
      - /srv/www:/srv:ro
    memory: 64m
    cpus: 0.5
    cap_drop: [all]
    cap_add: [net_bind_service]
    restart_policy: on-failure:5

- name: Stop it, giving it 30 seconds
  undock.oci.oci_container:
    name: web
    state: stopped
    stop_timeout: 30

- name: Remove it
  undock.oci.oci_container:
    name: web
    state: absent
"""

RETURN = r"""
container:
  description:
    - The container after the task (in check mode, the one that would exist); null after O(state=absent).
  returned: always
  type: dict
  contains:
    name:
      description: Name of the container.
      type: str
    state:
      description: V(created) (never started), V(running), V(restarting) (waiting to be restarted) or V(stopped).
      type: str
      sample: running
    pid:
      description: Host pid of the container's init while it runs, else null.
      type: int
    exit_code:
      description: Exit code of the last run (128 + signal number when killed by a signal), null if none.
      type: int
      sample: 137
    started_at:
      description: When the last run started (UTC, ISO 8601).
      type: str
    finished_at:
      description: When the last run ended (UTC, ISO 8601), null while it runs.
      type: str
    restart_count:
      description: Restarts made by the restart policy since the last start by this module.
      type: int
    error:
      description: Why the last run could not start, if it could not (the runtime's message is in the log).
      type: str
    supervised:
      description: Whether its supervisor (its monitor process, or its systemd unit) holds it and may restart it.
      type: bool
    unit:
      description: The systemd unit that runs it when systemd supervises it, else null.
      type: str
      sample: undock-web.service
    network:
      description: Its network, V(bridge), V(none), V(host) or V(container:NAME).
      type: str
    ip_address:
      description: Its IPv4 address while its network is attached (on V(bridge), or of the container it joins).
      type: str
      sample: 10.90.0.2
    ports:
      description: Its published ports, normalised (V([HOSTIP:]HOSTPORT:CONTAINERPORT/PROTOCOL), sorted).
      type: list
      elements: str
      sample: ["127.0.0.1:8080:80/tcp"]
    image:
      description: Full normalised reference of the image.
      type: str
    image_digest:
      description: Manifest digest of the image it was created from.
      type: str
    bundle:
      description: Absolute path of the OCI bundle whose C(config.json) the runtime runs.
      type: str
    log_path:
      description: The log file.
      type: str
    logs:
      description: The last O(log_lines) lines of the log.
      type: list
      elements: str
    created_at:
      description: When the container was created (UTC, ISO 8601).
      type: str
    config:
      description: The normalised configuration it was created with (what is compared).
      type: dict
image:
  description: The image, the same record as RV(undock.oci.oci_image#module:image).
  returned: when O(image) is given
  type: dict
actions:
  description: What was done (or, in check mode, would be done), in order.
  returned: always
  type: list
  elements: str
  sample: ["updated container web in place: memory"]
"""

from ..module_utils.common.errors import UndockError
from ..module_utils.module_base import finish, image_module
from ..module_utils.module_support import store_images


def main() -> None:
    module = image_module(
        dict(
            name=dict(type="str", required=True),
            state=dict(type="str", default="started", choices=["present", "started", "stopped", "absent", "restarted"]),
            image=dict(type="str"),
            pull=dict(type="str", default="missing", choices=["missing", "newer", "always", "never"]),
            policy=dict(type="raw"),
            command=dict(type="raw"),
            entrypoint=dict(type="raw"),
            env=dict(type="dict"),
            user=dict(type="str"),
            working_dir=dict(type="str"),
            hostname=dict(type="str"),
            volumes=dict(type="list", elements="str"),
            mounts=dict(type="list", elements="dict"),
            tmpfs=dict(type="list", elements="str"),
            read_only=dict(type="bool", default=False),
            cap_add=dict(type="list", elements="str"),
            cap_drop=dict(type="list", elements="str"),
            privileged=dict(type="bool", default=False),
            no_new_privileges=dict(type="bool", default=False),
            memory=dict(type="str"),
            cpus=dict(type="float"),
            pids_limit=dict(type="int"),
            ulimits=dict(type="raw"),
            sysctls=dict(type="dict"),
            labels=dict(type="dict"),
            annotations=dict(type="dict"),
            stop_signal=dict(type="str"),
            stop_timeout=dict(type="int", default=10),
            restart_policy=dict(type="str", default="no"),
            runtime=dict(type="str", default="runc"),
            network=dict(type="str", default="bridge"),
            ports=dict(type="list", elements="str"),
            dns=dict(type="list", elements="str"),
            recreate=dict(type="bool", default=False),
            force_restart=dict(type="bool", default=False),
            log_lines=dict(type="int", default=20),
        ),
    )
    from ..module_utils.runtime.quick import unchanged
    params = module.params
    try:  # a container already as asked is answered from its files, before the engine is even imported
        result = unchanged(params["storage_root"], params["run_root"], params, log_lines=params["log_lines"])
    except UndockError as err:
        module.fail_json(msg=str(err))
    if result is not None:
        module.exit_json(**result)
    from ..module_utils.runtime.monitoring import early_monitor
    try:  # a start's monitor boots while the rest of the engine is imported
        early = early_monitor(params["storage_root"], params["run_root"], params, module.check_mode)
    except UndockError as err:
        module.fail_json(msg=str(err))
    from ..module_utils.runtime.service import ContainerService, container_options
    try:
        service = ContainerService(store_images(module))
        outcome = service.ensure(container_options(module.params), log_lines=module.params["log_lines"], early=early)
    except UndockError as err:
        module.fail_json(msg=str(err))
    except OSError as err:  # a file or command the engine did not expect to fail
        module.fail_json(msg="oci_container %s: %s" % (module.params["name"], err))
    finish(module, outcome)


if __name__ == "__main__":
    main()
