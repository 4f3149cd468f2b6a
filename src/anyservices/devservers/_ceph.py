"""A one-node Ceph cluster for the RADOS Gateway, all of it under one private folder.

One monitor, one OSD on ``memstore`` (data in memory), no authentication between the
daemons, pools of size 1, msgr v1 on loopback, and ``radosgw`` serving S3 on the port.
Made afresh on every cold start (it holds no data worth keeping).
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

from ._common import HOST, DevServerError, free_port, is_listening, log, tail, wait_until
from ._install import ensure_apt, run_step
from ._probes import s3_flavour

PACKAGES = ("radosgw", "ceph-mon", "ceph-osd")
RGW_NAME = "client.rgw"
_MON_TIMEOUT = 30.0
_RGW_TIMEOUT = 90.0
_STORE_BYTES = 8 * 1024**3  # memstore's advertised size; memory is used only as data arrives

Spawn = Callable[[list[str]], subprocess.Popen[bytes]]


def install() -> None:
    """``radosgw``, ``ceph-mon`` and ``ceph-osd`` from Debian, when any is missing."""
    for binary in PACKAGES:
        ensure_apt(binary, PACKAGES)


def render_conf(root: Path, fsid: str, mon_port: int, rgw_port: int) -> str:
    """The cluster's ``ceph.conf``: everything under ``root``, everything on loopback."""
    settings = {
        "fsid": fsid,
        "mon_host": f"v1:{HOST}:{mon_port}",
        "mon_initial_members": "a",
        "public_addr": HOST,
        "cluster_addr": HOST,
        "ms_bind_msgr2": "false",
        "auth_cluster_required": "none",
        "auth_service_required": "none",
        "auth_client_required": "none",
        "auth_allow_insecure_global_id_reclaim": "true",
        "keyring": f"{root}/keyring",
        "run_dir": f"{root}/run",
        "admin_socket": f"{root}/run/$name.asok",
        "pid_file": f"{root}/run/$name.pid",
        "log_file": f"{root}/log/$name.log",
        "crash_dir": f"{root}/crash",
        "mon_data": f"{root}/mon/$name",
        "osd_data": f"{root}/osd/$name",
        "osd_objectstore": "memstore",
        "memstore_device_bytes": str(_STORE_BYTES),
        "osd_pool_default_size": "1",
        "osd_pool_default_min_size": "1",
        "mon_allow_pool_size_one": "true",
        "mon_warn_on_pool_no_redundancy": "false",
        "osd_pool_default_pg_num": "8",
        "osd_pool_default_pgp_num": "8",
        "osd_pool_default_pg_autoscale_mode": "off",
        "mon_max_pg_per_osd": "1000",
        "osd_crush_chooseleaf_type": "0",
        # Placed in the CRUSH map by ``start_cluster``: an OSD placing itself at start-up
        # sometimes sent its command before it knew the cluster's fsid (the monitor logged
        # "fsid 00000000-... != ..."), was refused ("wrong fsid") and exited, under load.
        "osd_crush_update_on_start": "false",
        "osd_class_update_on_start": "false",
        "mon_data_avail_warn": "2",
        "mon_data_avail_crit": "1",
        "paxos_propose_interval": "0.1",  # 1 s by default: each pool rgw makes waits for one
    }
    lines = ["[global]", *(f"{key} = {value}" for key, value in settings.items())]
    lines += [
        f"[{RGW_NAME}]",
        # tcp_nodelay: a GET answers in two writes; with Nagle on, each waited for the
        # client's delayed ACK (~40 ms a small GET, measured: 44 ms -> ~2 ms).
        f"rgw_frontends = beast endpoint={HOST}:{rgw_port} tcp_nodelay=1",
        f"rgw_data = {root}/rgw",
        # Deleted objects wait for rgw's garbage collector, by default 2 h before it looks
        # every hour: the tests and benchmarks filled the 4 GiB store and every PUT hung.
        "rgw_gc_obj_min_wait = 0",
        "rgw_gc_processor_period = 5",
        "rgw_gc_processor_max_time = 5",
    ]
    return "\n".join(lines) + "\n"


def start_cluster(root: Path, rgw_port: int, spawn: Spawn) -> None:
    """Make and start the cluster; return once radosgw answers S3 on ``rgw_port``."""
    shutil.rmtree(root, ignore_errors=True)
    for folder in ("run", "log", "crash", "mon/mon.a", "osd/osd.0", "rgw"):
        (root / folder).mkdir(parents=True)
    (root / "keyring").touch()
    fsid, mon_port = str(uuid.uuid4()), free_port()
    conf = root / "ceph.conf"
    conf.write_text(render_conf(root, fsid, mon_port, rgw_port))
    config = ["-c", str(conf)]
    monmap = str(root / "monmap")
    create = ["monmaptool", "--create", "--clobber", "--fsid", fsid,
              "--addv", "a", f"[v1:{HOST}:{mon_port}]", monmap]  # fmt: skip
    run_step(create, "monmaptool")
    run_step(["ceph-mon", *config, "--mkfs", "-i", "a", "--monmap", monmap], "ceph-mon --mkfs")
    mon = spawn(["ceph-mon", *config, "-f", "-i", "a"])
    wait_until(
        lambda: is_listening(mon_port),
        "ceph-mon",
        root / "log" / "mon.a.log",
        timeout=_MON_TIMEOUT,
        alive=lambda: mon.poll() is None,
    )
    osd_uuid = str(uuid.uuid4())
    run_step(
        ["ceph", *config, "--connect-timeout", "30", "osd", "new", osd_uuid, "0"],
        "ceph osd new",
        timeout=60,
    )
    run_step(
        ["ceph", *config, "--connect-timeout", "30", "osd", "crush", "add", "osd.0", "1.0",
         "root=default"],
        "ceph osd crush add",
        timeout=60,
    )  # fmt: skip
    run_step(
        ["ceph-osd", *config, "-i", "0", "--mkfs", "--osd-uuid", osd_uuid],
        "ceph-osd --mkfs",
        timeout=60,
    )
    osd = spawn(["ceph-osd", *config, "-f", "-i", "0"])
    rgw = spawn(["radosgw", *config, "-f", "-n", RGW_NAME])
    log("s3: ceph monitor and OSD up; waiting for radosgw ...")
    daemons = (mon, osd, rgw)
    try:
        wait_until(
            lambda: s3_flavour(rgw_port) == "radosgw",
            "radosgw",
            root / "log" / f"{RGW_NAME}.log",
            timeout=_RGW_TIMEOUT,
            alive=lambda: all(d.poll() is None for d in daemons),
        )
    except DevServerError as error:
        osd_log = tail(root / "log" / "osd.0.log")
        raise DevServerError(f"{error}\nlast lines of the OSD's log:\n{osd_log}") from None


def create_user(root: Path, access_key: str, secret_key: str) -> None:
    """The S3 user with the fixed development credentials."""
    command = ["radosgw-admin", "-c", str(root / "ceph.conf"), "user", "create",
               "--uid", access_key, "--display-name", "anyservices development",
               "--access-key", access_key, "--secret-key", secret_key]  # fmt: skip
    run_step(command, "radosgw-admin user create", timeout=60)
