"""The download path, offline: a 127.0.0.1 HTTP server serves archives built here from the shared data."""

from __future__ import annotations

import hashlib
import io
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from fusionlab.data.__main__ import main
from fusionlab.data.download import DownloadError, UnsafeArchiveError, download, fetch, safe_extract
from fusionlab.data.verify import verify


class _Handler(BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    ranges: list[str | None] = []
    honour_range = True

    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        body = self.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        rng = self.headers.get("Range")
        type(self).ranges.append(rng)
        if rng and self.honour_range:
            start = int(rng.removeprefix("bytes=").split("-")[0])
            if start >= len(body):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            body = body[start:]
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server(monkeypatch):
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    _Handler.files, _Handler.ranges, _Handler.honour_range = {}, [], True
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield _Handler, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def zip_of(src: Path, prefix: str, extra: dict[str, bytes] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for f in sorted(src.rglob("*")):
            if f.is_file():
                zf.write(f, f"{prefix}/{f.relative_to(src).as_posix()}")
        for name, data in (extra or {}).items():
            zf.writestr(f"{prefix}/{name}", data)
    return buf.getvalue()


def tar_of(src: Path, prefix: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        tf.add(src, arcname=prefix)
    return buf.getvalue()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def same_tree(a: Path, b: Path) -> bool:
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    return files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file() and p.name[0] != ".") and all(
        (a / f).read_bytes() == (b / f).read_bytes() for f in files)


def test_download_zip_strips_the_top_folder_and_verifies(server, data_dir, tmp_path):
    handler, base = server
    archive = zip_of(data_dir / "roadscene", "RoadScene-ab71420", {"README.md": b"not kept"})
    handler.files["/rs.zip"] = archive
    root = download("roadscene", tmp_path, url=f"{base}/rs.zip", sha256=sha(archive), quiet=True)
    assert root == tmp_path / "roadscene" and not (root / "README.md").exists()
    assert same_tree(data_dir / "roadscene", root)
    assert not list((tmp_path / ".downloads").iterdir())  # archive removed after extraction
    (report,) = verify(tmp_path, ["roadscene"])
    assert report.ok and report.counts == {"all": 16}


def test_cli_downloads_a_tar_subfolder_and_prints_the_verification(server, data_dir, tmp_path, capsys):
    handler, base = server
    nested = tmp_path / "src" / "IFCNN-8fe59c2" / "Code" / "datasets" / "CMFDataset"
    nested.parent.mkdir(parents=True)
    nested.symlink_to(data_dir / "lytro", target_is_directory=True)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", dereference=True) as tf:
        tf.add(tmp_path / "src" / "IFCNN-8fe59c2", arcname="IFCNN-8fe59c2")
    handler.files["/ifcnn.tar.gz"] = archive = buf.getvalue()
    out = tmp_path / "data"
    rc = main(["download", "lytro", "--root", str(out), "--url", f"{base}/ifcnn.tar.gz", "--sha256", sha(archive)])
    printed = capsys.readouterr().out
    assert rc == 0, printed
    assert same_tree(data_dir / "lytro", out / "lytro")
    assert "lytro/triple" in printed and "520x520" in printed
    assert main(["verify", "lytro", "--root", str(out)]) == 0
    assert main(["verify", "mef", "--root", str(out)]) == 1  # named but missing


def test_resume_continues_a_partial_download(server, tmp_path):
    handler, base = server
    body = bytes(range(256)) * 4096
    handler.files["/big.bin"] = body
    dest = tmp_path / "big.bin"
    (tmp_path / "big.bin.part").write_bytes(body[:300_000])
    fetch(f"{base}/big.bin", dest, sha(body), quiet=True)
    assert handler.ranges == ["bytes=300000-"] and dest.read_bytes() == body
    assert not (tmp_path / "big.bin.part").exists()
    # a server that ignores Range sends everything again: the file restarts, not appends
    handler.honour_range, handler.ranges = False, []
    dest.unlink()
    (tmp_path / "big.bin.part").write_bytes(b"stale bytes")
    fetch(f"{base}/big.bin", dest, sha(body), quiet=True)
    assert dest.read_bytes() == body


def test_checksum_mismatch_deletes_the_file(server, tmp_path):
    handler, base = server
    handler.files["/x.zip"] = b"payload"
    with pytest.raises(DownloadError, match="sha256 mismatch .*expected 0+, got"):
        fetch(f"{base}/x.zip", tmp_path / "x.zip", "0" * 64, quiet=True)
    assert not (tmp_path / "x.zip").exists() and not (tmp_path / "x.zip.part").exists()
    with pytest.raises(DownloadError, match="HTTP 404"):
        fetch(f"{base}/missing.zip", tmp_path / "m.zip", quiet=True)


def _tar_with(member: tarfile.TarInfo, data: bytes = b"") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        ok = tarfile.TarInfo("top/ok.txt")
        ok.size = 2
        tf.addfile(ok, io.BytesIO(b"ok"))
        member.size = len(data)
        tf.addfile(member, io.BytesIO(data) if data else None)
    return buf.getvalue()


def _link(name: str, target: str, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


@pytest.mark.parametrize(("case", "message"), [
    ("zip-traversal", "path traversal"),
    ("zip-absolute", "absolute"),
    ("zip-symlink", "symbolic link"),
    ("tar-traversal", "path traversal"),
    ("tar-symlink", "link to '/etc/passwd'"),
    ("tar-hardlink", "link to"),
    ("tar-device", "not a regular file"),
])
def test_unsafe_archives_are_rejected_before_anything_is_written(tmp_path, case, message):
    path = tmp_path / "evil.bin"
    if case.startswith("zip"):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("top/ok.txt", "ok")
            if case == "zip-traversal":
                zf.writestr("top/../../escaped.txt", "x")
            elif case == "zip-absolute":
                zf.writestr(zipfile.ZipInfo("/tmp/escaped.txt"), "x")
            else:
                info = zipfile.ZipInfo("top/link")
                info.external_attr = (0o120777 << 16)
                zf.writestr(info, "/etc/passwd")
        path.write_bytes(buf.getvalue())
    elif case == "tar-traversal":
        path.write_bytes(_tar_with(tarfile.TarInfo("top/../../escaped.txt"), b"x"))
    elif case == "tar-symlink":
        path.write_bytes(_tar_with(_link("top/link", "/etc/passwd", tarfile.SYMTYPE)))
    elif case == "tar-hardlink":
        path.write_bytes(_tar_with(_link("top/hard", "top/ok.txt", tarfile.LNKTYPE)))
    else:
        dev = tarfile.TarInfo("top/dev")
        dev.type = tarfile.CHRTYPE
        path.write_bytes(_tar_with(dev))
    dest = tmp_path / "out"
    with pytest.raises(UnsafeArchiveError, match=message):
        safe_extract(path, dest)
    assert not dest.exists() and not (tmp_path / "escaped.txt").exists()


def test_a_truncated_archive_is_a_clear_error(tmp_path, data_dir):
    path = tmp_path / "cut.zip"
    path.write_bytes(zip_of(data_dir / "harvard", "h")[:1000])
    with pytest.raises(DownloadError, match="neither a zip nor a tar archive"):
        safe_extract(path, tmp_path / "out")
