"""berthd driven by docker-py, the Docker SDK for Python, the way test
suites and CI tools drive Docker. Run by `scripts/dockerpy.sh own`, which
starts the daemon and provides `busybox:latest` (DOCKER_HOST points at it).
"""
import hashlib
import io
import socket
import tarfile
import time

import docker
import pytest

IMG = "busybox:latest"
LABEL = {"berth.test": "dockerpy-own"}


@pytest.fixture(scope="module")
def client():
    c = docker.from_env(timeout=120)
    yield c
    for ctr in c.containers.list(all=True, filters={"label": "berth.test=dockerpy-own"}):
        ctr.remove(force=True, v=True)
    c.close()


def run_detached(client, cmd, **kw):
    return client.containers.run(IMG, cmd, detach=True, labels=LABEL, **kw)


def tar_of(files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o640
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_run_returns_output_or_raises_with_stderr(client):
    assert client.containers.run(IMG, "echo hello", remove=True) == b"hello\n"
    out = client.containers.run(IMG, ["sh", "-c", "echo out; echo err >&2"], stderr=True,
                                stdout=False, remove=True)
    assert out == b"err\n"
    with pytest.raises(docker.errors.ContainerError) as e:
        client.containers.run(IMG, ["sh", "-c", "echo boom >&2; exit 3"], remove=True)
    assert e.value.exit_status == 3
    assert b"boom" in e.value.stderr
    # `remove=True` removed them.
    assert not client.containers.list(all=True, filters={"ancestor": IMG, "status": "exited",
                                                          "label": "berth.test=dockerpy-own"})


def test_run_stream_and_detached_wait_and_logs(client):
    lines = list(client.containers.run(IMG, ["sh", "-c", "for i in 1 2 3; do echo $i; done"],
                                       stream=True, remove=True))
    assert b"".join(lines) == b"1\n2\n3\n"
    c = run_detached(client, ["sh", "-c", "echo out; echo err >&2; exit 4"])
    status = c.wait(timeout=60)
    assert status["StatusCode"] == 4 and status.get("Error") is None
    assert c.logs(stdout=True, stderr=False) == b"out\n"
    assert c.logs(stdout=False, stderr=True) == b"err\n"
    stamped = c.logs(timestamps=True).decode()
    assert all(line[:4].isdigit() and "T" in line.split(" ")[0] for line in stamped.splitlines())
    c2 = run_detached(client, ["sh", "-c", "seq 1 10"])
    c2.wait(timeout=60)
    assert c2.logs(tail=3) == b"8\n9\n10\n"
    c.reload()
    assert c.status == "exited" and c.attrs["State"]["ExitCode"] == 4


def test_exec_run_plain_demux_stream_and_stdin(client):
    c = run_detached(client, "sleep 600", environment={"CTR": "1"})
    code, out = c.exec_run(["sh", "-c", "echo $CTR $X; exit 5"], environment={"X": "2"})
    assert (code, out) == (5, b"1 2\n")
    code, (out, err) = c.exec_run(["sh", "-c", "echo o; echo e >&2"], demux=True)
    assert (code, out, err) == (0, b"o\n", b"e\n")
    res = c.exec_run(["sh", "-c", "for i in 1 2 3; do echo $i; sleep 0.1; done"], stream=True)
    assert res.exit_code is None
    assert b"".join(res.output) == b"1\n2\n3\n"
    code, out = c.exec_run("whoami", user="nobody", workdir="/tmp")
    assert (code, out) == (0, b"nobody\n")
    code, out = c.exec_run("tty", tty=True)
    assert code == 0 and out.startswith(b"/dev/pts/")
    # stdin through the raw socket, closed by a half-close.
    api = client.api
    exec_id = api.exec_create(c.id, "cat", stdin=True)["Id"]
    sock = api.exec_start(exec_id, socket=True)
    raw = sock._sock
    raw.sendall(b"piped in\n")
    raw.shutdown(socket.SHUT_WR)
    data = b""
    while True:
        chunk = raw.recv(4096)
        if not chunk:
            break
        data += chunk
    sock.close()
    # stdcopy frame: stream 1, then the payload.
    assert data[0] == 1 and data[8:] == b"piped in\n"
    deadline = time.time() + 10
    while api.exec_inspect(exec_id)["Running"] and time.time() < deadline:
        time.sleep(0.1)
    info = api.exec_inspect(exec_id)
    assert info["ExitCode"] == 0 and info["ContainerID"] == c.id


def test_archive_get_put_export_diff(client):
    c = run_detached(client, ["sh", "-c", "mkdir -p /data && echo orig > /data/a && sleep 600"])
    time.sleep(0.5)
    assert c.put_archive("/data", tar_of({"b.txt": b"from docker-py\n"}))
    assert c.exec_run("cat /data/b.txt").output == b"from docker-py\n"
    stream, stat = c.get_archive("/data")
    assert stat["name"] == "data" and stat["mode"] & 0o20000000000
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as t:
        names = sorted(t.getnames())
        assert names == ["data", "data/a", "data/b.txt"]
        assert t.extractfile("data/b.txt").read() == b"from docker-py\n"
    with pytest.raises(docker.errors.NotFound):
        c.get_archive("/nope")
    changes = {(ch["Path"], ch["Kind"]) for ch in c.diff()}
    assert ("/data", 1) in changes and ("/data/b.txt", 1) in changes
    export = b"".join(c.export())
    with tarfile.open(fileobj=io.BytesIO(export)) as t:
        names = set(t.getnames())
    assert "data/b.txt" in names and "bin/busybox" in names


def test_commit_save_load_import(client):
    c = run_detached(client, ["sh", "-c", "echo committed > /made && sleep 600"])
    time.sleep(0.5)
    img = c.commit(repository="berth-dpy-commit", tag="v1", message="by docker-py",
                   changes=["ENV FROM_COMMIT=1"])
    assert "berth-dpy-commit:v1" in img.tags
    assert "FROM_COMMIT=1" in img.attrs["Config"]["Env"]
    assert client.containers.run(img, "cat /made", remove=True) == b"committed\n"
    history = img.history()
    assert history[0]["Comment"] == "by docker-py"
    saved = b"".join(img.save(named=True))
    assert len(saved) > 1024
    client.images.remove("berth-dpy-commit:v1", force=True)
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get("berth-dpy-commit:v1")
    loaded = client.images.load(saved)
    assert [i.id for i in loaded] == [img.id]
    assert client.images.get("berth-dpy-commit:v1").id == img.id
    with pytest.raises(docker.errors.ImageLoadError):
        client.images.load(b"this is not an image archive")
    # import a plain root filesystem tarball.
    rootfs = tar_of({"hello.txt": b"imported\n"})
    client.api.import_image_from_data(rootfs, repository="berth-dpy-import", tag="1")
    imported = client.images.get("berth-dpy-import:1")
    digest = hashlib.sha256(rootfs).hexdigest()
    assert imported.attrs["RootFS"]["Layers"] == [f"sha256:{digest}"]
    client.images.remove("berth-dpy-import:1")
    client.images.remove("berth-dpy-commit:v1", force=True)


def test_events_since_until_and_stats(client):
    since = time.time()
    c = run_detached(client, "sleep 600", name="dpy-events")
    c.exec_run("true")
    c.stop(timeout=1)
    until = time.time() + 0.5
    time.sleep(0.6)
    evs = list(client.events(since=since, until=until, decode=True,
                             filters={"container": "dpy-events"}))
    actions = [e["Action"] for e in evs]
    for want in ["create", "start", "exec_create: true ", "exec_start: true ", "exec_die",
                 "kill", "die", "stop"]:
        assert want in actions, (want, actions)
    assert actions.index("create") < actions.index("start") < actions.index("die")
    assert all(e["Actor"]["Attributes"]["name"] == "dpy-events" for e in evs)
    s = run_detached(client, "sleep 600")
    time.sleep(0.5)
    stats = s.stats(stream=False)
    assert stats["id"] == s.id
    assert stats["memory_stats"]["usage"] > 0
    assert stats["cpu_stats"]["online_cpus"] >= 1
    assert stats["precpu_stats"]["system_cpu_usage"] > 0
    assert stats["pids_stats"]["current"] == 1
    gen = s.stats(decode=True)
    first, second = next(gen), next(gen)
    assert second["precpu_stats"]["cpu_usage"]["total_usage"] == \
        first["cpu_stats"]["cpu_usage"]["total_usage"]


def test_volumes(client):
    v = client.volumes.create("dpy-vol", labels={"k": "v"})
    assert v.attrs["Driver"] == "local" and v.attrs["Labels"] == {"k": "v"}
    assert "dpy-vol" in [x.name for x in client.volumes.list(filters={"label": "k=v"})]
    out = client.containers.run(IMG, ["sh", "-c", "echo kept > /v/f; cat /v/f"],
                                volumes={"dpy-vol": {"bind": "/v", "mode": "rw"}}, remove=True)
    assert out == b"kept\n"
    out = client.containers.run(IMG, "cat /v/f", volumes=["dpy-vol:/v:ro"], remove=True)
    assert out == b"kept\n"
    user = run_detached(client, "sleep 600", volumes=["dpy-vol:/v"])
    with pytest.raises(docker.errors.APIError) as e:
        client.volumes.get("dpy-vol").remove()
    assert e.value.status_code == 409
    user.remove(force=True)
    client.volumes.get("dpy-vol").remove()
    with pytest.raises(docker.errors.NotFound):
        client.volumes.get("dpy-vol")


def test_errors_are_dockers(client):
    with pytest.raises(docker.errors.NotFound) as e:
        client.containers.get("no-such-container-here")
    assert "No such container" in str(e.value)
    with pytest.raises(docker.errors.ImageNotFound):
        client.containers.create("no-such-image-here:1")
    c = run_detached(client, "sleep 600", name="dpy-dup")
    with pytest.raises(docker.errors.APIError) as e:
        run_detached(client, "true", name="dpy-dup")
    assert e.value.status_code == 409
    c.remove(force=True)
    # The client negotiated the version the daemon offers.
    assert client.api._version == client.version()["ApiVersion"]
