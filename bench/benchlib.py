"""What bench/run is made of: the engines (berthd, Debian's dockerd,
podman's Docker-compatible service), each on its own socket and data root
and driven by the same `docker` CLI, and the measuring helpers."""
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BERTHD = os.path.join(ROOT, "target/release/berthd")
# Every container runs without a network, so that the engines do the same
# work (dockerd runs with --bridge=none; berth's default is loopback only).
NET = ["--network", "none"]


class Failed(Exception):
    """A workload an engine could not do; shown as such in the table."""


def rss_kib(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


def pids_matching(fragment):
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if fragment in cmd:
            out.append(int(p))
    return out


def sh(cmd, env=None, timeout=600):
    """Runs a shell command; its wall time in seconds. Failure raises."""
    t0 = time.perf_counter()
    r = subprocess.run(["sh", "-c", cmd], env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, timeout=timeout)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        raise Failed(r.stderr.decode(errors="replace").strip().splitlines()[-1:] or [f"exit {r.returncode}"])
    return dt


class Engine:
    """A daemon serving the Docker API on a unix socket of its own."""

    name = "?"

    def __init__(self, tmp):
        self.dir = os.path.join(tmp, self.name)
        os.makedirs(self.dir, exist_ok=True)
        self.sock = os.path.join(self.dir, "api.sock")
        self.env = dict(os.environ, DOCKER_HOST=f"unix://{self.sock}")
        self.proc = None
        self.error = None

    def argv(self):
        raise NotImplementedError

    def extra_env(self):
        return {}

    def start(self):
        env = dict(os.environ, **self.extra_env())
        log = open(os.path.join(self.dir, "daemon.log"), "w")
        self.proc = subprocess.Popen(self.argv(), stdout=log, stderr=log, env=env,
                                     start_new_session=True)
        for _ in range(600):
            if subprocess.run(["docker", "version"], env=self.env, capture_output=True).returncode == 0:
                return
            if self.proc.poll() is not None:
                raise Failed(f"{self.name} exited at start (see {self.dir}/daemon.log)")
            time.sleep(0.1)
        raise Failed(f"{self.name} did not come up")

    def docker(self, *args, check=True, timeout=900, stdin=None):
        r = subprocess.run(["docker", *args], env=self.env, capture_output=True,
                           timeout=timeout, input=stdin)
        if check and r.returncode != 0:
            raise Failed(f"docker {' '.join(args[:2])}: {r.stderr.decode(errors='replace').strip()[:200]}")
        return r

    def out(self, *args):
        return self.docker(*args).stdout.decode().strip()

    def timed(self, *args, timeout=900):
        t0 = time.perf_counter()
        self.docker(*args, timeout=timeout)
        return time.perf_counter() - t0

    def daemon_pids(self):
        return [self.proc.pid]

    def keeper_pids(self):
        """The per-container processes (shims, conmon)."""
        return []

    def ours(self, pid):
        """A process whose command line names this engine's directories."""
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                return self.dir.encode() in f.read()
        except OSError:
            return False

    def remove_all(self):
        ids = self.docker("ps", "-aq", check=False).stdout.split()
        if ids:
            self.docker("rm", "-f", *[i.decode() for i in ids], check=False)

    def stop(self):
        if self.proc is None:
            return
        try:
            self.remove_all()
        except Exception:
            pass
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=60)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc = None


class Berthd(Engine):
    name = "berthd"

    def argv(self):
        return [BERTHD, "--data-root", f"{self.dir}/root", "--exec-root", f"{self.dir}/exec",
                "-H", f"unix://{self.sock}", "--log-level", "warn"]

    def keeper_pids(self):
        return [p for p in pids_matching("shim --id ") if self.ours(p)]


class Dockerd(Engine):
    name = "dockerd"

    def argv(self):
        with open(f"{self.dir}/daemon.json", "w") as f:
            f.write("{}\n")
        return ["dockerd", "--config-file", f"{self.dir}/daemon.json", "--data-root", f"{self.dir}/root",
                "--exec-root", f"{self.dir}/exec", "--pidfile", f"{self.dir}/docker.pid",
                "-H", f"unix://{self.sock}", "--iptables=false", "--bridge=none"]

    def daemon_pids(self):
        return [self.proc.pid] + pids_matching(f"containerd --config {self.dir}/exec")

    def keeper_pids(self):
        return [p for p in pids_matching("containerd-shim") if self.ours(p)]

    def stop(self):
        super().stop()
        pidfile = f"{self.dir}/exec/containerd/containerd.pid"
        try:
            os.kill(int(open(pidfile).read().strip()), signal.SIGTERM)
        except (OSError, ValueError):
            pass


def machine_limit(name, default):
    """The hard limit `name` ("Max open files") of this process."""
    with open("/proc/self/limits") as f:
        for line in f:
            if line.startswith(name):
                v = line[len(name):].split()[1]
                return default if v == "unlimited" else int(v)
    return default


class Podman(Engine):
    name = "podman"

    def argv(self):
        # podman's default container ulimits (nofile and nproc at 1048576)
        # exceed what this machine allows; crun's setrlimit then fails and
        # the CLI sees "unable to upgrade to tcp, received 409". Pin them to
        # the machine's hard limits.
        nofile = machine_limit("Max open files", 1048576)
        # podman lowers its own nproc limit to the kernel's pid_max.
        try:
            pid_max = int(open("/proc/sys/kernel/pid_max").read())
        except (OSError, ValueError):
            pid_max = 32768
        nproc = min(machine_limit("Max processes", 1048576), pid_max)
        # Debian's crun 1.8 refuses this hybrid cgroup layout ("cgroups in
        # hybrid mode not supported"); podman runs runc here, as the others.
        with open(f"{self.dir}/containers.conf", "w") as f:
            f.write('[containers]\ndefault_ulimits = '
                    f'["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]\n'
                    '[engine]\nruntime = "runc"\n')
        return ["podman", "--root", f"{self.dir}/root", "--runroot", f"{self.dir}/run",
                "--tmpdir", f"{self.dir}/tmp", "system", "service", "--time=0", f"unix://{self.sock}"]

    def extra_env(self):
        env = {"CONTAINERS_CONF": f"{self.dir}/containers.conf"}
        reg = getattr(self, "insecure_registry", None)
        if reg:
            with open(f"{self.dir}/registries.conf", "w") as f:
                f.write(f'[[registry]]\nlocation = "{reg}"\ninsecure = true\n')
            env["CONTAINERS_REGISTRIES_CONF"] = f"{self.dir}/registries.conf"
        return env

    def daemon_pids(self):
        return [self.proc.pid]

    def keeper_pids(self):
        return [p for p in pids_matching("conmon") if self.ours(p)]


ENGINES = {"berthd": Berthd, "dockerd": Dockerd, "podman": Podman}


def summarize(xs):
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def machine_description(tmp):
    def first(cmd):
        try:
            return subprocess.run(["sh", "-c", cmd], capture_output=True, timeout=10).stdout.decode().strip()
        except Exception:
            return "?"
    return {
        "cores": os.cpu_count(),
        "memory": first("awk '/MemTotal/ {printf \"%.1f GiB\", $2/1048576}' /proc/meminfo"),
        "kernel": first("uname -r"),
        "cpu": first("awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo"),
        "storage": first(f"df -T {tmp} | awk 'NR==2 {{print $2\" on \"$1}}'"),
        "cgroups": "v2" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else "v1 (hybrid)",
        "docker CLI": first("docker version --format '{{.Client.Version}}'"),
        "dockerd": first("dockerd --version"),
        "podman": first("podman --version"),
        "runc": first("runc --version | head -1"),
        "crun": first("crun --version | head -1"),
    }


def cleanup_mounts(prefix):
    subprocess.run(["sh", "-c", f"grep -o ' {prefix}[^ ]*' /proc/self/mountinfo | sort -r | "
                               "xargs -r -n1 umount -l"], check=False)


def ensure_tools():
    """Installs what is missing (as root, from Debian)."""
    need = {"dockerd": "docker.io", "podman": "podman", "runc": "runc", "crun": "crun",
            "busybox": "busybox-static", "docker-registry": "docker-registry", "curl": "curl",
            "conmon": "conmon"}
    missing = sorted({pkg for tool, pkg in need.items() if shutil.which(tool) is None})
    if missing:
        print(f"installing {' '.join(missing)}", file=sys.stderr)
        subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True,
                       env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))


def dump_json(path, data):
    with open(path, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
