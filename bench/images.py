#!/usr/bin/env python3
"""Image workloads of issue 4, berthd against Debian's dockerd in one run,
interleaved: pull of a 5-layer ~200 MB image from a local docker-registry,
save and load of it, and commit of a container with 50,000 changed files.

    bench/images.py [--runs N]

Needs root, a release build (cargo build --release -p berthd), runc,
busybox-static, docker.io and docker-registry. Every figure comes from this
invocation; the image is built by berthd (import + five commits) and pushed
to the registry once, then each engine pulls it from there.
"""
import argparse, os, shutil, socket, statistics, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from quick import BERTHD, ROOT, Engine  # noqa: E402

LAYER_SCRIPT = (
    "set -e; dd if=/dev/urandom of=/big{i} bs=1M count=30 2>/dev/null; mkdir /small{i}; "
    "i=0; while [ $i -lt 2000 ]; do printf '%4000s' x > /small{i}/f$i; i=$((i+1)); done"
)
COMMIT_SCRIPT = (
    "set -e; d=0; while [ $d -lt 500 ]; do mkdir /c$d; f=0; "
    "while [ $f -lt 100 ]; do printf '%4096s' x > /c$d/f$f; f=$((f+1)); done; d=$((d+1)); done"
)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def timed(e, *args):
    t0 = time.perf_counter()
    r = e.docker(*args, check=False)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(f"{e.name}: docker {' '.join(args)} failed: {r.stderr.decode().strip()}")
    return dt


def clean_images(e):
    ids = e.docker("ps", "-aq", check=False).stdout.split()
    if ids:
        e.docker("rm", "-f", *[i.decode() for i in ids], check=False)
    for img in set(e.docker("images", "-aq", check=False).stdout.decode().split()):
        e.docker("rmi", "-f", img, check=False)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    if not os.path.exists(BERTHD):
        sys.exit("build first: cargo build --release -p berthd")
    tmp = tempfile.mkdtemp(prefix="berth-bench-img-")
    tar = os.path.join(tmp, "busybox.tar")
    subprocess.run([os.path.join(ROOT, "scripts/build-busybox-image.sh"), tar], check=True)
    port = free_port()
    with open(f"{tmp}/reg.yml", "w") as f:
        f.write(f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {tmp}/reg\n"
                f"  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n")
    reg = subprocess.Popen(["docker-registry", "serve", f"{tmp}/reg.yml"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, start_new_session=True)
    image = f"127.0.0.1:{port}/bench:5layers"
    engines = []
    results = {}
    try:
        b = Engine("berthd", [BERTHD, "--data-root", f"{tmp}/b/data", "--exec-root", f"/run/bi-{os.getpid()}",
                              "-H", f"unix://{tmp}/b.sock", "--log-level", "warn"], f"{tmp}/b.sock", [])
        engines.append(b)
        d = Engine("dockerd", ["dockerd", "--data-root", f"{tmp}/d/root", "--exec-root", f"{tmp}/d/exec",
                               "--pidfile", f"{tmp}/d/docker.pid", "-H", f"unix://{tmp}/d.sock",
                               "--iptables=false", "--bridge=none"], f"{tmp}/d.sock", ["--network", "none"])
        engines.append(d)
        for e in engines:
            e.docker("import", "--change", 'CMD ["sh"]', tar, "busybox:latest")
        # The 5-layer image: busybox plus four commits, built and pushed by berthd.
        base = "busybox:latest"
        for i in range(1, 5):
            b.docker("run", "--name", f"l{i}", base, "sh", "-c", LAYER_SCRIPT.format(i=i))
            b.docker("commit", f"l{i}", f"layers:{i}")
            b.docker("rm", f"l{i}")
            base = f"layers:{i}"
        b.docker("tag", base, image)
        b.docker("push", image)
        size = b.docker("inspect", "-f", "{{.Size}}", image).stdout.decode().strip()
        print(f"image {image}: 5 layers, {int(size) / 1e6:.0f} MB unpacked")
        for e in engines:
            clean_images(e)
            e.docker("import", "--change", 'CMD ["sh"]', tar, "busybox:latest")

        work = {"pull (5 layers, ~200 MB)": [], "save -o": [], "load -i": [], "commit (50k files)": []}
        times = {k: {e.name: [] for e in engines} for k in work}
        for r in range(args.runs):
            for e in engines:  # interleaved
                e.docker("rmi", "-f", image, check=False)
                e.docker("image", "prune", "-af", check=False)
                e.docker("import", "--change", 'CMD ["sh"]', tar, "busybox:latest", check=False)
                times["pull (5 layers, ~200 MB)"][e.name].append(timed(e, "pull", image))
                out = f"{tmp}/{e.name}-save.tar"
                times["save -o"][e.name].append(timed(e, "save", "-o", out, image))
                e.docker("rmi", "-f", image, check=False)
                e.docker("image", "prune", "-af", check=False)
                times["load -i"][e.name].append(timed(e, "load", "-i", out))
                os.unlink(out)
                e.docker("import", "--change", 'CMD ["sh"]', tar, "busybox:latest", check=False)
                e.docker("run", "--name", "cm", *e.extra, "busybox:latest", "sh", "-c", COMMIT_SCRIPT)
                times["commit (50k files)"][e.name].append(timed(e, "commit", "cm", "committed:1"))
                e.docker("rm", "-f", "cm", check=False)
                e.docker("rmi", "-f", "committed:1", check=False)
        print(f"\nimage workloads, {args.runs} runs each, interleaved (seconds: median [min-max])")
        for k, per in times.items():
            cells = []
            for name, xs in per.items():
                cells.append(f"{name}: {statistics.median(xs):7.2f} [{min(xs):.2f}-{max(xs):.2f}]")
            ratio = statistics.median(per["berthd"]) / statistics.median(per["dockerd"])
            print(f"{k:26} | " + " | ".join(cells) + f" | berthd/dockerd {ratio:.2f}")
            results[k] = ratio
    finally:
        for e in engines:
            e.stop()
        os.killpg(reg.pid, 15)
        reg.wait()
        subprocess.run(["sh", "-c", f"grep -e {tmp} -e /run/bi-{os.getpid()} /proc/self/mountinfo | awk '{{print $5}}' | sort -r | xargs -r -n1 umount -l"], check=False)
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(f"/run/bi-{os.getpid()}", ignore_errors=True)


if __name__ == "__main__":
    main()
