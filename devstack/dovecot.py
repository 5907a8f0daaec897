"""A throwaway Dovecot IMAP server on a loopback port (the Poststelle mailbox in tests), from Debian's packages.

Its configuration lives in a temporary directory: passwd-file users, Maildir, plain IMAP on 127.0.0.1 only (no TLS,
the tests speak `imap://` to loopback), run in the foreground (`dovecot -F -c conf`) and stopped by its own PID.
"""

import grp
import imaplib
import os
import pwd
import shutil
from pathlib import Path

from devstack.processes import ManagedProcess, SetupError, apt_install, require_free_port

PACKAGE = "dovecot-imapd"


def dovecot_binary() -> Path:
    """The `dovecot` master binary; installs Debian's dovecot-imapd if it (or its IMAP server) is missing."""
    for _attempt in range(2):
        found = shutil.which("dovecot") or ("/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None)
        if found and Path("/usr/lib/dovecot/imap").exists():
            return Path(found)
        apt_install(PACKAGE)
    raise SetupError(f"Dovecot (Debian's {PACKAGE}) not found and could not be installed")


def _accounts() -> tuple[str, str, int, int]:
    """Internal user, login user, and the uid/gid mail is stored as (root: Debian's dovecot users and `nobody`)."""
    if os.geteuid() != 0:
        me = pwd.getpwuid(os.geteuid()).pw_name
        return me, me, os.geteuid(), os.getegid()
    try:
        pwd.getpwnam("dovecot")
        pwd.getpwnam("dovenull")
        nobody = pwd.getpwnam("nobody")
    except KeyError as exc:
        raise SetupError(f"running as root but a system user Dovecot needs is missing: {exc}") from exc
    return "dovecot", "dovenull", nobody.pw_uid, grp.getgrnam("nogroup").gr_gid


class DovecotServer:
    """`users`: name -> password of the mailboxes (plain text in the throwaway passwd file)."""

    def __init__(self, data_dir: Path, port: int, users: dict[str, str]) -> None:
        self.data_dir = data_dir
        self.port = port
        self.users = users
        self.process: ManagedProcess | None = None

    def url(self, folder: str = "INBOX") -> str:
        return f"imap://127.0.0.1:{self.port}/{folder}"

    def start(self, timeout_s: float = 30.0) -> "DovecotServer":
        require_free_port(self.port, "Dovecot")
        binary = dovecot_binary()
        config = self._write_config()
        argv = [str(binary), "-F", "-c", str(config)]
        self.process = ManagedProcess("dovecot", argv, self.data_dir / "dovecot.out").start()
        self.process.wait_ready(self._ready, timeout_s)
        return self

    def _write_config(self) -> Path:
        internal, login, uid, gid = _accounts()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o755)  # the mail user (`nobody` under root) walks into its Maildir below
        mail = self.data_dir / "mail"
        mail.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            os.chown(mail, uid, gid)
        passwd = self.data_dir / "passwd"
        passwd.write_text("".join(f"{user}:{{PLAIN}}{password}::::::\n" for user, password in self.users.items()))
        passwd.chmod(0o644)
        config = self.data_dir / "dovecot.conf"
        config.write_text(
            _CONFIG.format(
                dir=self.data_dir,
                port=self.port,
                uid=uid,
                gid=gid,
                internal=internal,
                login=login,
                chroot="" if os.geteuid() != 0 else "login",
            )
        )
        return config

    def _ready(self) -> bool:
        try:
            with imaplib.IMAP4("127.0.0.1", self.port, timeout=2) as imap:
                return imap.noop()[0] == "OK"
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(timeout_s=15)


_CONFIG = """\
# Throwaway test server: plain IMAP on loopback only, users from a passwd file, Maildir.
protocols = imap
listen = 127.0.0.1
base_dir = {dir}/run
state_dir = {dir}/state
instance_name = eakte-dovecot-{port}
log_path = {dir}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {internal}
default_login_user = {login}
first_valid_uid = 1
mail_location = maildir:{dir}/mail/%u
passdb {{
  driver = passwd-file
  args = username_format=%u {dir}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={dir}/mail/%u
}}
service imap-login {{
  chroot = {chroot}
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
"""
