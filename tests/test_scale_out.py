"""Scale-out on existing engines (issue 20 item 4).

1. The Kubernetes profile (deploy/kubernetes/) validates against the Kubernetes API schemas
   (kubernetes-validate, strict: unknown fields fail) and its parts fit together (selectors,
   ports, probes, the read-only model volume, the image's public-mode environment).
2. Two replicas (two ``streamlit run app.py``) behind Debian's HAProxy with the shipped config
   (deploy/haproxy/haproxy.cfg, ports rewritten) serve a whole browser session: the attention
   view, a corpus upload and search, a shared link opened by a second visitor. The same proxy
   without the cookie lines sends a session's plain HTTP requests to either replica: the
   attention view's file answers 404 and an upload 400 from the replica that does not hold the
   session (Streamlit keeps both in the process that serves the session's websocket).
"""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from dockerfile_parse import DockerfileParser
from playwright.sync_api import expect

from explorer.analysis import analyze
from tests.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    ROOT,
    app_server,
    free_port,
    shown_cell,
    wait_for_cell,
)

KUBE = ROOT / "deploy" / "kubernetes"
HAPROXY_CFG = ROOT / "deploy" / "haproxy" / "haproxy.cfg"
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
HEALTH = "/_stcore/health"
# the oldest Kubernetes minor still common on managed clusters, and the newest schemas we have
KUBE_VERSIONS = ("1.29", "1.37")
TEXT = "A cat sat on the <mask> by the river."
OTHER_TEXT = "A dog ran to the <mask> in the park."
CORPUS = "The bank of the river was wet.\nShe went to the bank to pay.\nA cat sat on the mat.\n"


# --- 1. the Kubernetes profile ------------------------------------------------------------------

def kustomize_resources() -> list[Path]:
    kustomization = yaml.safe_load((KUBE / "kustomization.yaml").read_text())
    return [KUBE / name for name in kustomization["resources"]]


def manifests() -> dict[str, dict]:
    """Every object of the profile by kind (each resource file holds one object)."""
    objects = [yaml.safe_load(path.read_text()) for path in kustomize_resources()]
    return {obj["kind"]: obj for obj in objects}


def validate(obj: dict, version: str) -> None:
    import kubernetes_validate

    kubernetes_validate.validate(obj, version, strict=True)


def test_every_yaml_file_is_a_resource_or_the_documented_patch():
    listed = {path.name for path in kustomize_resources()}
    on_disk = {path.name for path in KUBE.glob("*.yaml")}
    assert listed <= on_disk, listed - on_disk
    assert on_disk - listed == {"kustomization.yaml", "hostpath-models.yaml"}


@pytest.mark.parametrize("version", KUBE_VERSIONS)
def test_manifests_validate_against_the_kubernetes_schemas(version: str):
    objects = manifests()
    assert set(objects) == {"Deployment", "Service", "Ingress", "HorizontalPodAutoscaler",
                            "PodDisruptionBudget", "PersistentVolumeClaim"}
    for obj in objects.values():
        validate(obj, version)


def test_a_broken_manifest_fails_validation():
    import kubernetes_validate

    deployment = manifests()["Deployment"]
    validate(deployment, KUBE_VERSIONS[-1])
    typo = copy.deepcopy(deployment)
    typo["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["pth"] = "/"
    wrong_type = copy.deepcopy(deployment)
    wrong_type["spec"]["replicas"] = "two"
    no_image_name = copy.deepcopy(deployment)
    del no_image_name["spec"]["template"]["spec"]["containers"][0]["name"]
    for broken in (typo, wrong_type, no_image_name):
        with pytest.raises(kubernetes_validate.ValidationError):
            validate(broken, KUBE_VERSIONS[-1])


def _container(deployment: dict) -> dict:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def test_the_parts_fit_together():
    objects = manifests()
    deployment, service, ingress = (objects[k] for k in ("Deployment", "Service", "Ingress"))
    hpa, pdb, claim = (objects[k] for k in ("HorizontalPodAutoscaler", "PodDisruptionBudget",
                                            "PersistentVolumeClaim"))
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod_labels.items()
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    container = _container(deployment)
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    env = {item["name"]: item["value"] for item in container["env"]}
    assert ports["http"] == int(env["PORT"])
    (service_port,) = service["spec"]["ports"]
    assert service_port["targetPort"] in ports
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == service["metadata"]["name"]
    assert backend["port"]["name"] == service_port["name"]
    # cookie affinity: Streamlit keeps media files and uploads in the serving process
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/affinity"] == "cookie"
    assert annotations["nginx.ingress.kubernetes.io/session-cookie-name"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": HEALTH, "port": "http"}, probe
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]
    assert container["resources"]["requests"]["cpu"]  # HPA utilisation needs a CPU request
    # the model folder: a read-only volume at /models, from the claim
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    models = mounts["/models"]
    assert models["readOnly"] is True
    claim_ref = volumes[models["name"]]["persistentVolumeClaim"]
    assert claim_ref == {"claimName": claim["metadata"]["name"], "readOnly": True}
    # a read-only root filesystem; every place the app writes is an emptyDir
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    for path in (env["EXPLORER_CACHE_DIR"], "/tmp"):
        assert "emptyDir" in volumes[mounts[path]["name"]], path
    assert env["HOME"].startswith("/tmp/") and env["HF_HOME"].startswith("/tmp/")


def test_the_pod_runs_the_image_in_public_mode_as_user_1000():
    deployment = manifests()["Deployment"]
    pod_security = deployment["spec"]["template"]["spec"]["securityContext"]
    assert pod_security["runAsUser"] == 1000 and pod_security["runAsNonRoot"] is True
    container = _container(deployment)
    assert container["image"] == "attention-explorer"
    env = {item["name"]: item["value"] for item in container["env"]}
    dockerfile = DockerfileParser(path=str(ROOT / "Dockerfile"))
    image_env = dockerfile.envs
    for name in ("EXPLORER_PUBLIC", "EXPLORER_MODEL", "EXPLORER_MODEL_ROOT",
                 "EXPLORER_ANALYSIS_CACHE_MB", "PORT"):
        assert env[name] == image_env[name], name
    assert env["EXPLORER_PUBLIC"] == "1"
    assert env["EXPLORER_MODEL"].startswith(env["EXPLORER_MODEL_ROOT"] + "/")
    # requests sized for docs/benchmarks.md's "plan for 2 GB"; the limit leaves room above it
    memory = container["resources"]["requests"]["memory"]
    assert memory == "2Gi"


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kustomize_renders_the_profile_and_the_hostpath_variant(tmp_path: Path):
    """``kubectl kustomize`` (offline) renders the profile, and the hostPath patch gives a
    Deployment that still validates; every rendered object validates too."""
    rendered = subprocess.run(["kubectl", "kustomize", str(KUBE)], capture_output=True,
                              text=True, timeout=60, check=True).stdout
    objects = [obj for obj in yaml.safe_load_all(rendered) if obj]
    assert len(objects) == len(kustomize_resources())
    for obj in objects:
        validate(obj, KUBE_VERSIONS[-1])
        assert obj["metadata"]["labels"]["app.kubernetes.io/part-of"] == "attention-explorer"
    variant = tmp_path / "kubernetes"
    shutil.copytree(KUBE, variant)
    kustomization = yaml.safe_load((variant / "kustomization.yaml").read_text())
    kustomization["resources"].remove("models-pvc.yaml")
    kustomization["patches"] = [{"path": "hostpath-models.yaml"}]
    (variant / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    rendered = subprocess.run(["kubectl", "kustomize", str(variant)], capture_output=True,
                              text=True, timeout=60, check=True).stdout
    (deployment,) = [obj for obj in yaml.safe_load_all(rendered)
                     if obj and obj["kind"] == "Deployment"]
    validate(deployment, KUBE_VERSIONS[-1])
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert set(volumes["models"]) == {"name", "hostPath"}


# --- 2. two replicas behind HAProxy -------------------------------------------------------------

def haproxy_config(port: int, replica_ports: list[int], sticky: bool) -> str:
    """The shipped config with the loopback ports of this test; without the cookie lines for
    ``sticky=False``."""
    config = HAPROXY_CFG.read_text()
    config = re.sub(r"(?m)^(\s*bind )\S+", rf"\g<1>127.0.0.1:{port}", config)
    servers = re.findall(r"(?m)^\s*server (\S+) \S+", config)
    assert len(servers) == len(replica_ports) == 2, servers
    for name, replica_port in zip(servers, replica_ports):
        config = re.sub(rf"(?m)^(\s*server {name} )\S+", rf"\g<1>127.0.0.1:{replica_port}",
                        config)
    if not sticky:
        config = re.sub(r"(?m)^\s*cookie .*\n", "", config)
        config = re.sub(r" cookie \S+", "", config)
        assert "cookie" not in re.sub(r"(?m)#.*$", "", config)
    return config


def test_the_shipped_haproxy_config_is_valid(tmp_path: Path):
    for sticky in (True, False):
        path = tmp_path / f"haproxy-{sticky}.cfg"
        path.write_text(haproxy_config(free_port(), [free_port(), free_port()], sticky))
        subprocess.run([HAPROXY, "-c", "-q", "-f", str(path)], check=True, timeout=30)
    assert "cookie SERVERID insert" in haproxy_config(1, [2, 3], sticky=True)
    broken = tmp_path / "broken.cfg"
    broken.write_text(HAPROXY_CFG.read_text().replace("balance roundrobin", "balance nowhere"))
    assert subprocess.run([HAPROXY, "-c", "-q", "-f", str(broken)], timeout=30,
                          capture_output=True).returncode != 0


@contextmanager
def haproxy(tmp_path: Path, replica_ports: list[int], sticky: bool) -> Iterator[str]:
    port = free_port()
    config = tmp_path / f"haproxy-{'sticky' if sticky else 'plain'}.cfg"
    config.write_text(haproxy_config(port, replica_ports, sticky))
    log = (tmp_path / f"{config.stem}.log").open("w+")
    process = subprocess.Popen([HAPROXY, "-db", "-f", str(config)], stdout=log,
                               stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(url + HEALTH, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                raise RuntimeError(f"haproxy did not start:\n{log.read()[-3000:]}")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


@dataclass(frozen=True)
class Cluster:
    sticky: str
    plain: str


@pytest.fixture(scope="module")
def cluster(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Two replicas as in the pods (public mode, model under the model root, own disk cache),
    one HAProxy with cookie stickiness and one without, both in front of the same replicas."""
    if not Path(HAPROXY).exists():
        pytest.fail("haproxy is missing: apt-get install haproxy (scripts/setup-test.sh)")
    tmp = tmp_path_factory.mktemp("scale-out")
    with ExitStack() as stack:
        replicas = [stack.enter_context(app_server(tiny_model_dir, {
            "EXPLORER_PUBLIC": "1",
            "EXPLORER_MODEL_ROOT": str(tiny_model_dir.parent),
            "EXPLORER_CACHE_DIR": str(tmp / f"cache-{n}"),
        })) for n in (1, 2)]
        ports = [replica.port for replica in replicas]
        yield Cluster(sticky=stack.enter_context(haproxy(tmp, ports, sticky=True)),
                      plain=stack.enter_context(haproxy(tmp, ports, sticky=False)))


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class Visit:
    """One visitor's page and what the proxy answered it (status, method, path, replica)."""

    page: object
    answers: list[tuple[int, str, str, str]]

    def replicas(self) -> set[str]:
        return {replica for *_, replica in self.answers if replica}

    def answered(self, path_part: str) -> list[tuple[int, str, str, str]]:
        return [answer for answer in self.answers if path_part in answer[2]]


@contextmanager
def visit(browser, url: str) -> Iterator[Visit]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    answers: list[tuple[int, str, str, str]] = []
    page.on("response", lambda response: answers.append((
        response.status, response.request.method, urlsplit(response.url).path,
        response.headers.get("x-served-by", ""))))
    try:
        yield Visit(page, answers)
    finally:
        context.close()


def show_text(page, url: str, text: str) -> None:
    page.goto(url)
    box = page.get_by_role("textbox", name="Text")
    box.wait_for(timeout=60_000)
    box.fill(text)
    box.press("Control+Enter")


def wait_for_graph(page) -> None:
    graph = page.locator("[data-testid='attention-graph']")
    expect(graph).to_have_attribute("data-loaded", re.compile(".+"), timeout=60_000)
    expect(page.locator(".ag-left .ag-tok").first).to_have_text("<s>", timeout=30_000)


def upload_corpus(page, path: Path) -> int:
    """Upload ``path`` on the Corpus search page; the status of the upload request."""
    page.get_by_role("link", name="Corpus search").click()
    page.get_by_text("Upload a .txt file").click()
    with page.expect_response(lambda response: "/_stcore/upload_file/" in response.url
                              and response.request.method == "PUT", timeout=60_000) as upload:
        page.locator("input[type=file]").set_input_files(str(path))
    return upload.value.status


def attention_file(visit_: Visit) -> str:
    files = [path for status, _, path, _ in visit_.answered("/media/")
             if path.endswith(".bin") and status == 200]
    assert files, visit_.answers
    return files[-1]


def ask_again(page, method: str, path: str, url: str, times: int = 4, **kwargs) -> list:
    """Send one of the session's own requests again ``times`` times with the browser's cookies
    (Playwright's request context shares them): (status, replica, body) for each."""
    answers = []
    for _ in range(times):
        response = page.request.fetch(url + path, method=method, **kwargs)
        answers.append((response.status, response.headers.get("x-served-by", ""),
                        response.text()))
    return answers


def replay_upload(page, visit_: Visit, url: str, corpus: bytes) -> list:
    (put,) = [answer for answer in visit_.answered("/_stcore/upload_file/") if answer[1] == "PUT"]
    xsrf = next(cookie["value"] for cookie in page.context.cookies()
                if cookie["name"] == "_streamlit_xsrf")
    return ask_again(page, "PUT", put[2], url, headers={"X-Xsrftoken": xsrf}, multipart={
        "file": {"name": "again.txt", "mimeType": "text/plain", "buffer": corpus}})


def test_sticky_sessions_serve_the_whole_app_from_two_replicas(cluster: Cluster, browser, tiny,
                                                               tmp_path: Path):
    expected = shown_cell(analyze(tiny, TEXT).predictions[0].predictions)
    corpus = tmp_path / "my corpus.txt"
    corpus.write_text(CORPUS)
    with visit(browser, cluster.sticky) as first, visit(browser, cluster.sticky) as second:
        show_text(first.page, cluster.sticky, TEXT)
        wait_for_cell(first.page, expected)
        wait_for_graph(first.page)
        first.page.wait_for_url(lambda address: "text=" in address, timeout=30_000)
        shared_link = first.page.url  # the view's state, text included, is in the link
        # a second visitor is sent to the other replica, and is pinned there too
        second.page.goto(shared_link)
        wait_for_cell(second.page, expected)
        wait_for_graph(second.page)
        expect(second.page.get_by_role("textbox", name="Text")).to_have_value(TEXT)
        assert len(first.replicas()) == 1 and len(second.replicas()) == 1, (
            first.replicas(), second.replicas())
        assert first.replicas() != second.replicas()
        # the same file asked for again by the same browser: always the same replica, always 200
        again = ask_again(first.page, "GET", attention_file(first), cluster.sticky)
        assert [status for status, *_ in again] == [200] * 4, again
        assert {replica for _, replica, _ in again} == first.replicas()

        # corpus upload and search, on the replica that holds the session
        assert upload_corpus(first.page, corpus) == 204
        first.page.get_by_role("button", name="Build index").click(timeout=60_000)
        expect(first.page.locator(".corpus-match").first).to_be_visible(timeout=60_000)
        expect(first.page.get_by_text("3 lines")).to_be_visible(timeout=30_000)
        uploads = first.answered("/_stcore/upload_file/")
        assert [status for status, method, *_ in uploads if method == "PUT"] == [204], uploads
        replayed = replay_upload(first.page, first, cluster.sticky, CORPUS.encode())
        assert [status for status, *_ in replayed] == [204] * 4, replayed
        assert len(first.replicas()) == 1, first.answers  # the whole visit on one replica


def test_without_stickiness_the_other_replica_lacks_the_sessions_files(cluster: Cluster,
                                                                       browser, tmp_path: Path):
    """The expected failure: round robin alone sends the session's plain HTTP requests to both
    replicas; the one that does not serve its websocket has neither the attention file (404)
    nor the session an upload belongs to (400, Streamlit's "sticky sessions" message)."""
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(CORPUS)
    with visit(browser, cluster.plain) as plain:
        # a text no other test shows: no replica holds its attention file from an earlier visit
        show_text(plain.page, cluster.plain, OTHER_TEXT)
        # the page may still draw: the view asks again after a 404 (and may hit the right one)
        expect(plain.page.locator("[data-testid='attention-graph']")).to_have_attribute(
            "data-loaded", re.compile(".+"), timeout=60_000)
        assert len(plain.replicas()) == 2, plain.answers  # no cookie: both replicas answered

        assert upload_corpus(plain.page, corpus) in {204, 400}  # either replica, by turn
        replayed = replay_upload(plain.page, plain, cluster.plain, CORPUS.encode())
        holder = {replica for status, replica, _ in replayed if status == 204}
        other = {replica for status, replica, _ in replayed if status == 400}
        assert len(holder) == len(other) == 1 and holder != other, replayed
        refusal = next(body for status, _, body in replayed if status == 400)
        assert "sticky sessions" in refusal  # Streamlit's own diagnosis

        # the attention file exists only in the replica that holds the session
        path = attention_file(plain)
        assert (200, "GET", path, *holder) in plain.answers, plain.answers
        again = ask_again(plain.page, "GET", path, cluster.plain)
        assert {status for status, replica, _ in again if replica in other} == {404}, again
