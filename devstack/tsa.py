"""A real RFC 3161 time-stamping authority on loopback: OpenSSL's `ts -reply` responder (Debian's `openssl`)
behind a small HTTP wrapper (`devstack.tsa_http`), with a throwaway CA made at start.

`TsaServer(directory, port).start()` writes `ca.pem` (the CA to trust: EAKTE_TSA_CA_FILE) and serves
`http://127.0.0.1:<port>/tsa` (EAKTE_TSA_URL). For tests and development only.
"""

import shutil
import subprocess
import sys
from pathlib import Path

from devstack.processes import ManagedProcess, SetupError, apt_install, require_free_port, tcp_open

TSA_CONFIG = """\
[ tsa ]
default_tsa = tsa_config

[ tsa_config ]
dir = {dir}
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.pem
certs = $dir/ca.pem
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
other_policies = 1.2.3.4.5.6
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = no
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""

TSA_EXTENSIONS = """\
[ tsa_cert ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, nonRepudiation
extendedKeyUsage = critical, timeStamping
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


def openssl() -> str:
    found = shutil.which("openssl")
    if found is None:
        apt_install("openssl")
        found = shutil.which("openssl")
    if found is None:
        raise SetupError("OpenSSL (Debian package `openssl`) is required for the test TSA and could not be installed")
    return found


def _run(*argv: str) -> None:
    done = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SetupError(f"`{' '.join(argv)}` failed:\n{done.stderr[-2000:]}")


def make_throwaway_ca(directory: Path) -> None:
    """A CA (ca.pem, ca.key) and a TSA certificate it signed (tsa.pem, tsa.key; EKU timeStamping, critical)."""
    tool = openssl()
    directory.mkdir(parents=True, exist_ok=True)
    d = str(directory)
    (directory / "extensions.cnf").write_text(TSA_EXTENSIONS)
    ca_subject = "/C=DE/O=E-Akte Test/CN=E-Akte Test TSA CA"
    ca_ext = ["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]
    _run(tool, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650", "-subj", ca_subject,
         *ca_ext, "-keyout", f"{d}/ca.key", "-out", f"{d}/ca.pem")  # fmt: skip
    _run(tool, "req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj", "/C=DE/O=E-Akte Test/CN=E-Akte Test TSA",
         "-keyout", f"{d}/tsa.key", "-out", f"{d}/tsa.csr")  # fmt: skip
    _run(tool, "x509", "-req", "-in", f"{d}/tsa.csr", "-CA", f"{d}/ca.pem", "-CAkey", f"{d}/ca.key",
         "-CAcreateserial", "-days", "3650", "-extfile", f"{d}/extensions.cnf", "-extensions", "tsa_cert",
         "-out", f"{d}/tsa.pem")  # fmt: skip
    (directory / "serial").write_text("01\n")
    (directory / "tsa.cnf").write_text(TSA_CONFIG.format(dir=d))


class TsaServer:
    """OpenSSL's TSA behind `devstack.tsa_http` on 127.0.0.1:`port`."""

    def __init__(self, directory: Path, port: int) -> None:
        self.directory = directory
        self.port = port
        self.process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/tsa"

    @property
    def ca_file(self) -> Path:
        return self.directory / "ca.pem"

    def start(self, timeout_s: float = 30.0) -> "TsaServer":
        require_free_port(self.port, "the test TSA")
        if not (self.directory / "tsa.cnf").exists():
            make_throwaway_ca(self.directory)
        argv = [sys.executable, "-m", "devstack.tsa_http", str(self.port), openssl(), str(self.directory / "tsa.cnf")]
        self.process = ManagedProcess("tsa", argv, self.directory / "tsa.log", cwd=Path(__file__).parent.parent)
        self.process.start().wait_ready(lambda: tcp_open(self.port), timeout_s)
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
