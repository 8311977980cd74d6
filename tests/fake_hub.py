"""A small fake Hugging Face hub on 127.0.0.1, for download tests (nothing here reaches the real
hub).

It serves model folders (say, one made by :func:`explorer.tiny.build_tiny_model`) as hub repos
and answers just the requests huggingface_hub 2.x makes for ``snapshot_download`` and
``hf_hub_download`` (``dry_run=True`` included), over plain HTTP (no xet headers):

- ``GET /api/models/{repo}[/revision/{rev}]``: the repo's info, its commit ``sha`` and
  ``siblings`` (``HfApi.model_info`` / ``repo_info``);
- ``GET /api/models/{repo}/tree/{rev}``: the file listing, one page (``list_repo_tree``);
- ``HEAD`` / ``GET /{repo}/resolve/{rev}/{file}``: the file with ``X-Repo-Commit``, ``ETag``
  and ``Content-Length`` (``get_hf_file_metadata``, ``http_get``).

Unknown repos, revisions and files get the hub's error codes (``X-Error-Code``). File bodies can
be throttled (bytes per second) so that a download takes long enough to watch its progress, and
every request is logged, so a test can check what was fetched.

    with fake_hub({"fake-org/tiny-roberta": folder}, bytes_per_second=64_000) as hub:
        os.environ["HF_ENDPOINT"] = hub.url
        ...
        assert not [p for p in hub.fetched_files("fake-org/tiny-roberta") if p.endswith(".bin")]
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

LFS_SUFFIXES = (".safetensors", ".bin", ".h5", ".onnx", ".msgpack")
"""Files the real hub keeps in LFS (its tree lists their sha256 and size under ``lfs``)."""


@dataclass(frozen=True)
class RepoFile:
    path: str
    data: bytes

    @property
    def git_oid(self) -> str:  # git's blob id: sha1 of "blob <size>\0" + data
        return hashlib.sha1(b"blob %d\0" % len(self.data) + self.data).hexdigest()

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def is_lfs(self) -> bool:
        return self.path.endswith(LFS_SUFFIXES)

    @property
    def etag(self) -> str:  # the hub's ETag: sha256 for LFS files, the git blob id otherwise
        return self.sha256 if self.is_lfs else self.git_oid

    def tree_entry(self) -> dict[str, object]:
        entry: dict[str, object] = {"type": "file", "oid": self.git_oid, "size": len(self.data),
                                    "path": self.path}
        if self.is_lfs:
            entry["lfs"] = {"oid": self.sha256, "size": len(self.data), "pointerSize": 134}
        return entry


@dataclass(frozen=True)
class Repo:
    repo_id: str
    files: dict[str, RepoFile]
    sha: str  # the one commit of this repo

    @classmethod
    def from_folder(cls, repo_id: str, folder: Path) -> Repo:
        files = {p.relative_to(folder).as_posix(): RepoFile(p.relative_to(folder).as_posix(),
                                                            p.read_bytes())
                 for p in sorted(folder.rglob("*")) if p.is_file()}
        listing = "\n".join(f"{f.path} {f.git_oid}" for f in files.values())
        sha = hashlib.sha1(f"{repo_id}\n{listing}".encode()).hexdigest()
        return cls(repo_id, files, sha)

    def knows_revision(self, revision: str) -> bool:
        return revision in ("main", self.sha)


@dataclass
class FakeHub:
    """A running fake hub: its base URL (for ``HF_ENDPOINT``), its repos and its request log."""

    url: str
    repos: dict[str, Repo]
    bytes_per_second: int | None = None
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, unquoted path)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def log(self, method: str, path: str) -> None:
        with self._lock:
            self.requests.append((method, path))

    def logged(self) -> list[tuple[str, str]]:
        with self._lock:
            return list(self.requests)

    def fetched_files(self, repo_id: str, method: str = "GET") -> list[str]:
        """The file paths of ``repo_id`` requested with ``method`` (``GET`` downloads a body,
        ``HEAD`` only asks for the metadata), in request order."""
        prefix = f"/{repo_id}/resolve/"
        found = []
        for logged_method, path in self.logged():
            if logged_method == method and path.startswith(prefix):
                found.append(path[len(prefix):].split("/", 1)[1])
        return found


def _handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the hub; every answer has a length

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

        def do_HEAD(self) -> None:
            self._answer(body=False)

        def do_GET(self) -> None:
            self._answer(body=True)

        def _answer(self, body: bool) -> None:
            path = unquote(urlsplit(self.path).path)
            hub.log(self.command, path)
            if path.startswith("/api/models/"):
                self._api(path[len("/api/models/"):], body)
            else:
                self._resolve(path, body)

        def _send(self, status: int, payload: bytes, headers: dict[str, str], body: bool,
                  throttle: bool = False) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if not body:
                return
            rate = hub.bytes_per_second if throttle else None
            if not rate:
                self.wfile.write(payload)
                return
            step = max(1024, rate // 20)  # about 20 writes a second
            for start in range(0, len(payload), step):
                self.wfile.write(payload[start:start + step])
                self.wfile.flush()
                time.sleep(step / rate)  # the server's pace, not a test's wait

        def _json(self, data: object, body: bool, status: int = 200,
                  headers: dict[str, str] | None = None) -> None:
            self._send(status, json.dumps(data).encode(),
                       {"Content-Type": "application/json", **(headers or {})}, body)

        def _error(self, status: int, code: str, message: str, body: bool,
                   headers: dict[str, str] | None = None) -> None:
            self._json({"error": message}, body, status,
                       {"X-Error-Code": code, "X-Error-Message": message, **(headers or {})})

        def _find_repo(self, rest: str) -> tuple[Repo | None, str]:
            """The repo named at the start of ``rest`` ("org/name/..."), and what follows."""
            parts = rest.split("/", 2)
            repo = hub.repos.get("/".join(parts[:2]))
            return repo, (parts[2] if len(parts) > 2 else "")

        def _api(self, rest: str, body: bool) -> None:
            repo, tail = self._find_repo(rest)
            if repo is None:
                self._error(401, "RepoNotFound", "Repository not found", body)
                return
            kind, _, rest_of_tail = tail.partition("/")
            revision = rest_of_tail.split("/", 1)[0] if kind in ("revision", "tree") else "main"
            if tail and kind not in ("revision", "tree"):
                self._error(404, "", "Not found", body)
                return
            if not repo.knows_revision(revision):
                self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}", body)
                return
            if kind == "tree":
                self._json([f.tree_entry() for f in repo.files.values()], body)
                return
            self._json({
                "_id": repo.sha[:24], "id": repo.repo_id, "modelId": repo.repo_id,
                "sha": repo.sha, "private": False, "disabled": False, "gated": False,
                "tags": ["transformers", "fill-mask"], "pipeline_tag": "fill-mask",
                "siblings": [{"rfilename": p} for p in repo.files],
            }, body)

        def _resolve(self, path: str, body: bool) -> None:
            repo, tail = self._find_repo(path.lstrip("/"))
            if repo is None or not tail.startswith("resolve/"):
                self._error(401, "RepoNotFound", "Repository not found", body)
                return
            revision, _, filename = tail[len("resolve/"):].partition("/")
            if not repo.knows_revision(revision):
                self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}", body)
                return
            headers = {"X-Repo-Commit": repo.sha}
            file = repo.files.get(filename)
            if file is None:
                self._error(404, "EntryNotFound", "Entry not found", body, headers)
                return
            headers.update({"ETag": f'"{file.etag}"', "Content-Type": "application/octet-stream",
                            "Accept-Ranges": "bytes"})
            self._send(200, file.data, headers, body, throttle=True)

    return Handler


@contextmanager
def fake_hub(repos: dict[str, Path], bytes_per_second: int | None = None) -> Iterator[FakeHub]:
    """Serve each folder of ``repos`` (repo id → folder) as a hub repo on a free loopback port;
    yield the running :class:`FakeHub`. ``bytes_per_second`` throttles file downloads (not the
    API's small answers)."""
    loaded = {repo_id: Repo.from_folder(repo_id, Path(folder)) for repo_id, folder in repos.items()}
    hub = FakeHub(url="", repos=loaded, bytes_per_second=bytes_per_second)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(hub))
    server.daemon_threads = True
    hub.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True, name="fake-hub")
    thread.start()
    try:
        yield hub
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
