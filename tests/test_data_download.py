"""The downloader and the loaders' first-use download, against a local HTTP server only.

A ``http.server`` on 127.0.0.1 runs in a thread for the duration of one test and serves files
from a dict; some paths misbehave on purpose (404, a body shorter than its Content-Length).
Nothing here touches the internet.
"""

import gzip
import hashlib
import http.server
import io
import os
import pickle
import socket
import tarfile
import threading

import numpy as np
import pytest
import scipy.io

from tinyadv.data import ChecksumError, DataNotFoundError, data_root, fetch, load_dataset
from tinyadv.data import cifar as cifar_module
from tinyadv.data import mnist as mnist_module
from tinyadv.data import svhn as svhn_module


def md5(data):
    return hashlib.md5(data).hexdigest()


class Server:
    """A tiny HTTP server on 127.0.0.1 serving ``files`` (path -> bytes); counts requests."""

    def __init__(self):
        self.files, self.truncated, self.requests = {}, set(), []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append(self.path)
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.path in server.truncated:
                    body = body[: len(body) // 2]
                    self.close_connection = True
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def server():
    srv = Server()
    yield srv
    srv.close()


def closed_port_url():
    """A URL on 127.0.0.1 where nothing listens: stands in for 'no network'."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def listing(folder):
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


# --- fetch ---------------------------------------------------------------------------------

def test_fetch_downloads_verifies_and_names_file(server, tmp_path):
    payload = os.urandom(3 * (1 << 20) + 17)       # several chunks
    server.files["/a.bin"] = payload
    target = tmp_path / "sub" / "a.bin"
    out = fetch(server.url + "/a.bin", str(target), md5=md5(payload), progress=False)
    assert out == str(target) and target.read_bytes() == payload
    assert listing(target.parent) == ["a.bin"]


def test_fetch_wrong_checksum_leaves_nothing(server, tmp_path):
    server.files["/a.bin"] = b"not the official bytes"
    with pytest.raises(ChecksumError, match="MD5"):
        fetch(server.url + "/a.bin", str(tmp_path / "a.bin"), md5="0" * 32, progress=False)
    assert listing(tmp_path) == []


def test_fetch_truncated_transfer_leaves_nothing(server, tmp_path):
    payload = os.urandom(100_000)
    server.files["/a.bin"] = payload
    server.truncated.add("/a.bin")
    with pytest.raises(DataNotFoundError, match="a.bin") as info:
        fetch(server.url + "/a.bin", str(tmp_path / "a.bin"), md5=md5(payload), progress=False, timeout=5)
    assert "IncompleteRead" in str(info.value) or "connection closed" in str(info.value)
    assert listing(tmp_path) == []


def test_fetch_no_network_says_where_to_put_the_file(tmp_path):
    target = tmp_path / "train_32x32.mat"
    with pytest.raises(DataNotFoundError) as info:
        fetch(closed_port_url() + "train_32x32.mat", str(target), md5="0" * 32, progress=False, timeout=5)
    message = str(info.value)
    assert "could not download" in message and str(target) in message and "place the official file" in message
    assert listing(tmp_path) == []



def test_a_failed_fetch_leaves_no_empty_folder_it_made(tmp_path):
    """The data folders it had to make are removed again when no file came (an empty svhn/ made
    check_offline_data report a missing data set); a folder that was there stays."""
    target = tmp_path / "data" / "svhn" / "train_32x32.mat"
    with pytest.raises(DataNotFoundError):
        fetch(closed_port_url() + "train_32x32.mat", str(target), md5="0" * 32, progress=False, timeout=5)
    assert listing(tmp_path) == []
    (tmp_path / "kept").mkdir()
    with pytest.raises(DataNotFoundError):
        fetch(closed_port_url() + "x.mat", str(tmp_path / "kept" / "x.mat"), md5="0" * 32,
              progress=False, timeout=5)
    assert listing(tmp_path) == ["kept"]

def test_fetch_falls_back_to_next_mirror(server, tmp_path):
    payload = b"digits" * 1000
    server.files["/mirror2/a.bin"] = payload
    urls = [closed_port_url() + "a.bin", server.url + "/mirror1/a.bin", server.url + "/mirror2/a.bin"]
    fetch(urls, str(tmp_path / "a.bin"), md5=md5(payload), progress=False, timeout=5)
    assert (tmp_path / "a.bin").read_bytes() == payload
    assert server.requests == ["/mirror1/a.bin", "/mirror2/a.bin"]


def test_fetch_file_url(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"offline mirror")
    out = tmp_path / "out" / "dst.bin"
    fetch(src.as_uri(), str(out), md5=md5(b"offline mirror"), progress=False)
    assert out.read_bytes() == b"offline mirror"


def test_fetch_shows_a_progress_bar(server, tmp_path, capsys):
    server.files["/a.bin"] = b"x" * 5000
    fetch(server.url + "/a.bin", str(tmp_path / "a.bin"), md5=md5(b"x" * 5000), progress=True)
    assert "a.bin" in capsys.readouterr().err


def test_data_root_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYADV_DATA", str(tmp_path / "env"))
    assert data_root(str(tmp_path / "arg")) == str(tmp_path / "arg")
    assert data_root() == str(tmp_path / "env")
    monkeypatch.delenv("TINYADV_DATA")
    assert data_root() == os.path.join(os.path.expanduser("~"), ".cache", "tinyadv")
    with pytest.raises(TypeError, match="root must be a folder path"):
        data_root(3)


# --- loaders: first use downloads, later uses read the cache ---------------------------------

def mnist_files(n=12, seed=0):
    """The four MNIST .gz files for a tiny data set, as bytes."""
    rng = np.random.default_rng(seed)
    out = {}
    for prefix in ("train", "t10k"):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        for kind, arr, d in (("images", images, 3), ("labels", labels, 1)):
            buf = io.BytesIO()
            header = bytes([0, 0, 8, d]) + np.asarray(arr.shape, dtype=">u4").tobytes()
            buf.write(gzip.compress(header + arr.tobytes(), mtime=0))
            out[f"{prefix}-{kind}-idx{d}-ubyte.gz"] = buf.getvalue()
    return out


def test_mnist_first_use_downloads_then_reads_cache(server, tmp_path, monkeypatch):
    files = mnist_files()
    for name, data in files.items():
        server.files["/mnist/" + name] = data
    monkeypatch.setattr(mnist_module, "MNIST_MIRRORS", (closed_port_url(), server.url + "/mnist/"))
    monkeypatch.setattr(mnist_module, "MNIST_MD5", {k: md5(v) for k, v in files.items()})
    monkeypatch.setenv("TINYADV_DATA", str(tmp_path))
    x, y = load_dataset("mnist", "train")
    assert x.shape == (12, 1, 28, 28) and y.tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    assert listing(tmp_path / "mnist") == ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]
    served = len(server.requests)
    # second use: no request, even with every mirror unreachable
    monkeypatch.setattr(mnist_module, "MNIST_MIRRORS", (closed_port_url(),))
    x2, y2 = load_dataset("mnist", "train")
    np.testing.assert_array_equal(x2, x)
    assert len(server.requests) == served


def test_mnist_download_with_wrong_checksum_writes_nothing(server, tmp_path, monkeypatch):
    files = mnist_files()
    for name, data in files.items():
        server.files["/mnist/" + name] = data
    monkeypatch.setattr(mnist_module, "MNIST_MIRRORS", (server.url + "/mnist/",))
    with pytest.raises(ChecksumError, match="train-images-idx3-ubyte.gz"):
        load_dataset("mnist", root=str(tmp_path))     # the real published MD5s cannot match
    assert listing(tmp_path / "mnist") == []


def test_mnist_no_network_and_no_file(tmp_path, monkeypatch):
    monkeypatch.setattr(mnist_module, "MNIST_MIRRORS", (closed_port_url(),))
    with pytest.raises(DataNotFoundError) as info:
        load_dataset("mnist", "test", root=str(tmp_path))
    assert str(tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz") in str(info.value)


def test_fashion_mnist_downloads_into_its_own_folder(server, tmp_path, monkeypatch):
    files = mnist_files(seed=1)
    for name, data in files.items():
        server.files["/fashion/" + name] = data
    monkeypatch.setattr(mnist_module, "FASHION_MNIST_MIRRORS", (server.url + "/fashion/",))
    monkeypatch.setattr(mnist_module, "FASHION_MNIST_MD5", {k: md5(v) for k, v in files.items()})
    x, y = load_dataset("fashion-mnist", "test", root=str(tmp_path), classes=(3, 7), binary=True)
    assert x.shape == (2, 1, 28, 28) and y.tolist() == [1, 0]
    assert len(listing(tmp_path / "fashion-mnist")) == 2


def cifar_archive(n=4, seed=0, members=None):
    """A tiny cifar-10-python.tar.gz in the official layout, as bytes."""
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    names = members or cifar_module.CIFAR10_MEMBERS
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name in names:
            if name == "batches.meta":
                record = {b"label_names": [c.encode() for c in cifar_module.CIFAR10_CLASSES]}
            else:
                record = {b"data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8),
                          b"labels": [int(v) for v in rng.integers(0, 10, size=n)]}
            data = pickle.dumps(record, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_cifar_first_use_downloads_extracts_then_reads_cache(server, tmp_path, monkeypatch):
    archive = cifar_archive()
    server.files["/cifar-10-python.tar.gz"] = archive
    monkeypatch.setattr(cifar_module, "CIFAR10_URLS", (server.url + "/cifar-10-python.tar.gz",))
    monkeypatch.setattr(cifar_module, "CIFAR10_MD5", md5(archive))
    x, y = load_dataset("cifar10", "train", root=str(tmp_path))
    assert x.shape == (20, 3, 32, 32) and x.dtype == np.float32 and y.shape == (20,)
    assert listing(tmp_path) == ["cifar-10-batches-py", "cifar-10-python.tar.gz"]
    assert listing(tmp_path / "cifar-10-batches-py") == sorted(cifar_module.CIFAR10_MEMBERS)
    monkeypatch.setattr(cifar_module, "CIFAR10_URLS", (closed_port_url(),))
    xt, _ = load_dataset("cifar10", "test", root=str(tmp_path))
    assert xt.shape == (4, 3, 32, 32) and server.requests == ["/cifar-10-python.tar.gz"]


def test_svhn_first_use_downloads(server, tmp_path, monkeypatch):
    buf = io.BytesIO()
    X = np.random.default_rng(0).integers(0, 256, size=(32, 32, 3, 5), dtype=np.uint8)
    scipy.io.savemat(buf, {"X": X, "y": np.array([[10], [1], [2], [3], [10]], dtype=np.uint8)})
    data = buf.getvalue()
    server.files["/test_32x32.mat"] = data
    monkeypatch.setattr(svhn_module, "SVHN_URL", server.url + "/")
    monkeypatch.setitem(svhn_module.SVHN_MD5, "test_32x32.mat", md5(data))
    x, y = load_dataset("svhn", "test", root=str(tmp_path))
    assert x.shape == (5, 3, 32, 32) and y.tolist() == [0, 1, 2, 3, 0]
    assert listing(tmp_path / "svhn") == ["test_32x32.mat"]


def test_interrupted_download_leaves_nothing(tmp_path, monkeypatch):
    """Ctrl-C in the middle of a transfer: the exception propagates and no file remains."""
    from tinyadv.data import download as download_module

    class Response:
        headers = {"Content-Length": str(3 << 20)}
        calls = 0

        def read(self, size):
            Response.calls += 1
            if Response.calls > 1:
                raise KeyboardInterrupt
            return b"\0" * size

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(download_module.urllib.request, "urlopen", lambda url, timeout: Response())
    with pytest.raises(KeyboardInterrupt):
        fetch("http://127.0.0.1:1/big.bin", str(tmp_path / "big.bin"), md5="0" * 32, progress=False)
    assert Response.calls == 2 and listing(tmp_path) == []
