"""A real Keycloak (OpenID Connect provider) from Maven Central, run on loopback for the OIDC tests.

`org.keycloak:keycloak-quarkus-dist` is fetched once with Maven into ~/.cache/eakte and started in development
mode (in-memory database) with the machine's Java 21 or newer. Realms are created through the admin REST API.
"""

import os
import re
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import httpx

from devstack.processes import ManagedProcess, SetupError, apt_install, cache_dir, free_port, require_free_port

KEYCLOAK_VERSION = "26.4.7"
ADMIN_USER = "admin"
ADMIN_PASSWORD = "eakte-keycloak-dev-admin"  # a throwaway provider on loopback, for tests only


def keycloak_home() -> Path:
    home = cache_dir() / f"keycloak-{KEYCLOAK_VERSION}"
    if (home / "bin" / "kc.sh").exists():
        return home
    mvn = shutil.which("mvn")
    if mvn is None:
        apt_install("maven")
        mvn = shutil.which("mvn")
    if mvn is None:
        raise SetupError("Maven (mvn) is required to fetch Keycloak and could not be installed")
    download = cache_dir() / "keycloak-download"
    artifact = f"org.keycloak:keycloak-quarkus-dist:{KEYCLOAK_VERSION}:zip"
    print(f"[eakte] fetching Keycloak {KEYCLOAK_VERSION} from Maven Central (first run only, ~160 MB)", flush=True)
    done = subprocess.run(
        [mvn, "-q", "dependency:copy", f"-Dartifact={artifact}", f"-DoutputDirectory={download}"],
        capture_output=True,
        text=True,
        check=False,
    )
    archive = download / f"keycloak-quarkus-dist-{KEYCLOAK_VERSION}.zip"
    if done.returncode != 0 or not archive.exists():
        raise SetupError(f"fetching Keycloak failed (no network to Maven Central?):\n{done.stdout[-2000:]}")
    with zipfile.ZipFile(archive) as zipped:
        zipped.extractall(cache_dir())
    for script in (home / "bin").glob("*.sh"):
        script.chmod(0o755)
    shutil.rmtree(download, ignore_errors=True)
    return home


def _java_major(java: Path) -> int:
    done = subprocess.run([str(java), "-version"], capture_output=True, text=True, check=False)
    found = re.search(r'version "(\d+)', done.stderr)
    return int(found.group(1)) if found else 0


def java21_home() -> Path:
    """A Java 21+ installation (Keycloak 26 needs it; the Kafka broker is content with 17)."""
    candidates = [Path(os.environ["JAVA_HOME"])] if os.environ.get("JAVA_HOME") else []
    candidates += sorted(Path("/usr/lib/jvm").glob("*"), reverse=True) if Path("/usr/lib/jvm").exists() else []
    for home in candidates:
        if (home / "bin" / "java").exists() and _java_major(home / "bin" / "java") >= 21:
            return home
    apt_install("openjdk-21-jre-headless")
    home = Path("/usr/lib/jvm/java-21-openjdk-amd64")
    if not (home / "bin" / "java").exists():
        raise SetupError("Keycloak needs Java 21 or newer; none found in /usr/lib/jvm and none could be installed")
    return home


class KeycloakServer:
    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = data_dir
        self.port = port
        self.process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def issuer(self, realm: str) -> str:
        return f"{self.url}/realms/{realm}"

    def start(self, timeout_s: float = 240.0) -> "KeycloakServer":
        require_free_port(self.port, "Keycloak")
        home = keycloak_home()
        env = {
            **os.environ,
            "JAVA_HOME": str(java21_home()),
            "KC_BOOTSTRAP_ADMIN_USERNAME": ADMIN_USER,
            "KC_BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
        }
        argv = [
            str(home / "bin" / "kc.sh"),
            "start-dev",
            "--db=dev-mem",
            "--http-host=127.0.0.1",
            f"--http-port={self.port}",
            f"--http-management-port={free_port()}",
            "--hostname-strict=false",
        ]
        self.process = ManagedProcess("keycloak", argv, self.data_dir / "keycloak.log", env=env).start()
        self.process.wait_ready(lambda: self._answers(), timeout_s)
        return self

    def _answers(self) -> bool:
        try:
            return httpx.get(f"{self.issuer('master')}/.well-known/openid-configuration", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(timeout_s=30)

    def admin(self, method: str, path: str, json: Any = None) -> httpx.Response:
        """A call to the admin REST API (`/admin/realms...`) as the bootstrap admin."""
        token = self.password_token("master", "admin-cli", "", ADMIN_USER, ADMIN_PASSWORD)
        response = httpx.request(
            method, f"{self.url}/admin{path}", json=json, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        response.raise_for_status()
        return response

    def password_token(self, realm: str, client_id: str, client_secret: str, user: str, password: str) -> str:
        """An access token for a person, by the resource-owner password grant (tests only)."""
        form = {"grant_type": "password", "client_id": client_id, "username": user, "password": password}
        if client_secret:
            form["client_secret"] = client_secret
        response = httpx.post(f"{self.issuer(realm)}/protocol/openid-connect/token", data=form, timeout=30)
        if response.status_code != 200:
            raise SetupError(f"Keycloak refused a token for {user}: {response.status_code} {response.text[:500]}")
        return str(response.json()["access_token"])
