#!/usr/bin/env python3
"""A first, small benchmark: `docker run --rm busybox true` latency and memory,
and (with --cp) the container-filesystem workloads, berthd against Debian's
dockerd on this machine, in one run, interleaved.

    bench/quick.py [--runs N] [--cp] [--cp-runs N]

Needs root, a release build (cargo build --release -p berthd), runc,
busybox-static and Debian's docker.io (for dockerd; skipped with a note if
absent). Every figure comes from this invocation. The full harness (more
workloads, podman, floors) is bench/run's job; this is its seed.
"""
import argparse, json, os, shutil, signal, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BERTHD = os.path.join(ROOT, "target/release/berthd")


def rss_kib(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total


def pids_by_cmdline(fragment):
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


def wait_socket(env, proc, what):
    for _ in range(300):
        if subprocess.run(["docker", "version"], env=env, capture_output=True).returncode == 0:
            return
        if proc.poll() is not None:
            sys.exit(f"{what} exited at start")
        time.sleep(0.1)
    sys.exit(f"{what} did not come up")


class Engine:
    def __init__(self, name, argv, sock, extra_run_args):
        self.name, self.sock, self.extra = name, sock, extra_run_args
        self.env = dict(os.environ, DOCKER_HOST=f"unix://{sock}")
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        wait_socket(self.env, self.proc, name)

    def docker(self, *args, check=True):
        return subprocess.run(["docker", *args], env=self.env, capture_output=True, check=check)

    def timed_run(self):
        t0 = time.perf_counter()
        self.docker("run", "--rm", *self.extra, "busybox", "true")
        return time.perf_counter() - t0

    def stop(self):
        ids = self.docker("ps", "-aq", check=False).stdout.split()
        if ids:
            self.docker("rm", "-f", *[i.decode() for i in ids], check=False)
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--cp", action="store_true", help="also docker cp / export / diff workloads")
    ap.add_argument("--cp-runs", type=int, default=3)
    args = ap.parse_args()
    if not os.path.exists(BERTHD):
        sys.exit("build first: cargo build --release -p berthd")
    tmp = tempfile.mkdtemp(prefix="berth-bench-")
    tar = os.path.join(tmp, "busybox.tar")
    subprocess.run([os.path.join(ROOT, "scripts/build-busybox-image.sh"), tar], check=True)
    engines = []
    try:
        b = Engine("berthd", [BERTHD, "--data-root", f"{tmp}/b/data", "--exec-root", f"/run/bb-{os.getpid()}",
                              "-H", f"unix://{tmp}/b.sock", "--log-level", "warn"], f"{tmp}/b.sock", [])
        engines.append(b)
        if shutil.which("dockerd"):
            d = Engine("dockerd", ["dockerd", "--data-root", f"{tmp}/d/root", "--exec-root", f"{tmp}/d/exec",
                                   "--pidfile", f"{tmp}/d/docker.pid", "-H", f"unix://{tmp}/d.sock",
                                   "--iptables=false", "--bridge=none"], f"{tmp}/d.sock", ["--network", "none"])
            engines.append(d)
        else:
            print("dockerd: not installed (apt-get install docker.io): shown as not measured")
        for e in engines:
            e.docker("import", "--change", 'CMD ["sh"]', tar, "busybox:latest")
            for _ in range(3):  # warm-up
                e.timed_run()
        time.sleep(2)
        idle = {}
        idle["berthd"] = rss_kib([b.proc.pid])
        if len(engines) > 1:
            idle["dockerd"] = rss_kib([engines[1].proc.pid] + pids_by_cmdline(f"containerd --config {tmp}/d/exec"))
        lat = {e.name: [] for e in engines}
        for _ in range(args.runs):
            for e in engines:  # interleaved, so drift hits all alike
                lat[e.name].append(e.timed_run())
        per_container = {}
        for e in engines:
            e.docker("run", "-d", "--name", "rss", *e.extra, "busybox", "sleep", "600")
            time.sleep(1)
            cid = e.docker("inspect", "-f", "{{.Id}}", "rss").stdout.decode().strip()
            keeper = pids_by_cmdline(f"shim --id {cid}") if e.name == "berthd" else pids_by_cmdline(f"-id {cid}")
            per_container[e.name] = rss_kib(keeper)
            e.docker("rm", "-f", "rss")
        print(f"\n`docker run --rm busybox true`, {args.runs} runs each, interleaved (seconds)")
        print(f"{'engine':10} {'median':>8} {'min':>8} {'max':>8}")
        for name, xs in lat.items():
            print(f"{name:10} {statistics.median(xs):8.3f} {min(xs):8.3f} {max(xs):8.3f}")
        if "dockerd" in lat:
            print(f"ratio berthd/dockerd (median): {statistics.median(lat['berthd']) / statistics.median(lat['dockerd']):.2f}")
        print("\nidle daemon RSS (KiB):", json.dumps(idle))
        print("per-container keeper RSS (KiB; berth shim vs containerd-shim):", json.dumps(per_container))
        if args.cp:
            cp_bench(engines, tmp, args.cp_runs)
    finally:
        for e in engines:
            e.stop()
        subprocess.run(["sh", "-c", f"grep -e {tmp} -e /run/bb-{os.getpid()} /proc/self/mountinfo | awk '{{print $5}}' | sort -r | xargs -r -n1 umount -l"], check=False)
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(f"/run/bb-{os.getpid()}", ignore_errors=True)


def sh(cmd, env=None):
    t0 = time.perf_counter()
    subprocess.run(["sh", "-c", cmd], env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def cp_bench(engines, tmp, runs):
    """docker cp in/out of one 1 GiB file and of 50,000 4 KiB files in 500
    dirs (CLI, and raw API with curl for out), export, diff; floors for
    reading and packing the same data on the host."""
    data = f"{tmp}/data"
    os.makedirs(f"{data}/small", exist_ok=True)
    subprocess.run(["sh", "-c", f"head -c 1073741824 /dev/urandom > {data}/big"], check=True)
    block = os.urandom(4096)
    for d in range(500):
        os.makedirs(f"{data}/small/d{d}", exist_ok=True)
        for f in range(100):
            with open(f"{data}/small/d{d}/f{f}", "wb") as fh:
                fh.write(block)
    subprocess.run(["sync"])
    results = {}

    def record(name, engine, secs):
        results.setdefault(name, {}).setdefault(engine, []).append(secs)

    for r in range(runs):
        for e in engines:
            c = f"cpb{r}"
            e.docker("create", "--name", c, *e.extra, "busybox", "true")
            record("cp in: 1 GiB file (CLI)", e.name, sh(f"docker cp {data}/big {c}:/big", e.env))
            record("cp in: 50k small files (CLI)", e.name, sh(f"docker cp {data}/small {c}:/small", e.env))
            record("cp out: 1 GiB file (CLI, to stdout)", e.name, sh(f"docker cp {c}:/big - > /dev/null", e.env))
            record("cp out: 50k small files (CLI, to stdout)", e.name, sh(f"docker cp {c}:/small - > /dev/null", e.env))
            api = f"curl -sf --unix-socket {e.sock} -o /dev/null"
            record("cp out: 1 GiB file (raw API)", e.name, sh(f"{api} 'http://x/v1.41/containers/{c}/archive?path=/big'"))
            record("cp out: 50k small files (raw API)", e.name, sh(f"{api} 'http://x/v1.41/containers/{c}/archive?path=/small'"))
            record("cp in: 50k small files (raw API)", e.name,
                   sh(f"tar -C {data} -cf - small | curl -sf --unix-socket {e.sock} -o /dev/null -X PUT -T - "
                      f"'http://x/v1.41/containers/{c}/archive?path=/tmp'"))
            record("export (1 GiB + 100k files)", e.name, sh(f"docker export {c} > /dev/null", e.env))
            record("diff (100k changed files)", e.name, sh(f"docker diff {c} > /dev/null", e.env))
            e.docker("rm", "-f", c)
        record("cp out: 1 GiB file (raw API)", "floor: cat", sh(f"cat {data}/big > /dev/null"))
        record("cp out: 50k small files (raw API)", "floor: tar|cat", sh(f"tar -C {data} -cf - small | cat > /dev/null"))
    print(f"\ncontainer filesystem workloads, {runs} runs each, interleaved (median seconds; throughput)")
    sizes = {"1 GiB": 1 << 30, "50k": 50000}
    for name, per in results.items():
        line = f"{name:42}"
        for eng, xs in per.items():
            m = statistics.median(xs)
            rate = ""
            if "1 GiB" in name:
                rate = f" {sizes['1 GiB'] / m / 1e6:7.0f} MB/s"
            elif "50k" in name:
                rate = f" {sizes['50k'] / m:7.0f} files/s"
            line += f" | {eng}: {m:6.3f}s{rate}"
        if "berthd" in per and "dockerd" in per:
            line += f" | berthd/dockerd time ratio {statistics.median(per['berthd']) / statistics.median(per['dockerd']):.2f}"
        print(line)


if __name__ == "__main__":
    main()
