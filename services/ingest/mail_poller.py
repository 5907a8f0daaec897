"""The Poststelle mailbox, polled over IMAP (`EAKTE_MAIL_IMAP_URL`): every message in the folder is handed to
`services.ingest.mailbox.MailIntake` and then moved to `EAKTE_MAIL_DONE_FOLDER` (never deleted).

`imaps://host[:993]/FOLDER` speaks TLS with the system's trust store and checks the host name; `imap://` is plain
text and allowed only to a loopback host (a local test server, a relay on the same machine). Several ingest replicas:
only replica 1 polls (a message is taken by one poller; `mail_messages` refuses it twice anyway).
"""

import asyncio
import imaplib
import ipaddress
import logging
import re
import ssl
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from services.ingest.mailbox import FetchedMessage, MailIntake
from shared.settings import Settings

log = logging.getLogger(__name__)

BATCH = 50  # messages per poll; the rest come at the next one
_UIDVALIDITY = re.compile(rb"UIDVALIDITY (\d+)")


@dataclass(frozen=True)
class ImapLocation:
    secure: bool
    host: str
    port: int
    folder: str


def imap_location(url: str) -> ImapLocation:
    """Where the mailbox is: `imaps://host:993/INBOX`, or `imap://127.0.0.1:1143/INBOX` on loopback only."""
    parts = urlsplit(url)
    if parts.scheme not in ("imap", "imaps") or not parts.hostname:
        raise SystemExit(f"EAKTE_MAIL_IMAP_URL must look like imaps://mail.example.org:993/INBOX, not {url!r}")
    secure = parts.scheme == "imaps"
    if not secure and not _loopback(parts.hostname):
        raise SystemExit("EAKTE_MAIL_IMAP_URL: plain imap:// only to a loopback host; use imaps:// (TLS)")
    folder = unquote(parts.path.lstrip("/")) or "INBOX"
    return ImapLocation(secure, parts.hostname, parts.port or (993 if secure else 143), folder)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _quoted(name: str) -> str:
    """A mailbox name as an IMAP quoted string (names with spaces or quotes)."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


class MailboxError(RuntimeError):
    """The IMAP server refused a command; the message names the command, never a message's content."""


def _ok(result: tuple[str, list], what: str) -> list:
    status, data = result
    if status != "OK":
        raise MailboxError(f"IMAP {what} answered {status}")
    return data


class MailPoller:
    def __init__(self, settings: Settings, intake: MailIntake) -> None:
        self.location = imap_location(settings.mail_imap_url)
        self.user = settings.mail_user
        self.password = settings.mail_password
        self.poll_s = settings.mail_poll_s
        self.done_folder = settings.mail_done_folder
        self.intake = intake

    async def run(self) -> None:
        await asyncio.to_thread(self.intake.recover)
        while True:
            try:
                taken = await asyncio.to_thread(self.poll)
                if taken:
                    log.info("mailbox: %d message(s) taken", taken)
            except Exception as exc:  # the server is away for a moment: retry, never drop
                log.warning("mailbox poll failed (%s: %s); retrying", type(exc).__name__, str(exc)[:200])
            await asyncio.sleep(self.poll_s)

    def _connect(self) -> imaplib.IMAP4:
        where = self.location
        if where.secure:
            return imaplib.IMAP4_SSL(where.host, where.port, ssl_context=ssl.create_default_context(), timeout=30)
        return imaplib.IMAP4(where.host, where.port, timeout=30)

    def poll(self) -> int:
        """Take every message in the folder (up to BATCH); returns how many were handed over."""
        with self._connect() as imap:
            _ok(imap.login(self.user, self.password), "LOGIN")
            capabilities = _ok(imap.capability(), "CAPABILITY")  # after login a server names more (MOVE)
            imap.capabilities = tuple(capabilities[-1].decode().upper().split())
            self._ensure_done_folder(imap)
            _ok(imap.select(_quoted(self.location.folder)), "SELECT")
            uidvalidity = self._uidvalidity(imap)
            uids = _ok(imap.uid("SEARCH", "ALL"), "SEARCH")[0].split()[:BATCH]
            return sum(self._take(imap, uidvalidity, uid) for uid in uids)

    def _take(self, imap: imaplib.IMAP4, uidvalidity: int, uid: bytes) -> bool:
        """File one message and move it; one that fails stays in the folder (retried) and never stops the others."""
        try:
            raw = self._fetch(imap, uid)
            if raw is None:  # expunged by someone else meanwhile
                return False
            mail_id = self.intake.take(FetchedMessage(self.location.folder, uidvalidity, int(uid), raw))
            self._move(imap, uid)
        except (imaplib.IMAP4.abort, OSError):
            raise  # the connection is gone: the next poll starts afresh
        except Exception as exc:
            # The type only: an error's text may quote the message (sender, subject), which logs never carry.
            log.error(
                "mailbox: message UID %s not taken (%s); it stays in the folder", uid.decode(), type(exc).__name__
            )
            return False
        self.intake.moved(mail_id)
        return True

    def _ensure_done_folder(self, imap: imaplib.IMAP4) -> None:
        status, _ = imap.create(_quoted(self.done_folder))  # NO when it exists already
        if status == "OK":
            log.info("mailbox: created the done folder")

    def _uidvalidity(self, imap: imaplib.IMAP4) -> int:
        _, data = imap.response("UIDVALIDITY")
        if data and data[0]:
            return int(data[0])
        status = _ok(imap.status(_quoted(self.location.folder), "(UIDVALIDITY)"), "STATUS")
        found = _UIDVALIDITY.search(status[0] or b"")
        if found is None:
            raise MailboxError("the server names no UIDVALIDITY")
        return int(found.group(1))

    @staticmethod
    def _fetch(imap: imaplib.IMAP4, uid: bytes) -> bytes | None:
        data = _ok(imap.uid("FETCH", uid.decode(), "(BODY.PEEK[])"), "FETCH")
        for entry in data:
            if isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[1], bytes):
                return entry[1]
        return None

    def _move(self, imap: imaplib.IMAP4, uid: bytes) -> None:
        """MOVE (RFC 6851) where the server has it; else COPY, flag as deleted and expunge that one message."""
        target = _quoted(self.done_folder)
        if "MOVE" in imap.capabilities:
            _ok(imap.uid("MOVE", uid.decode(), target), "MOVE")
            return
        _ok(imap.uid("COPY", uid.decode(), target), "COPY")
        _ok(imap.uid("STORE", uid.decode(), "+FLAGS.SILENT", r"(\Deleted)"), "STORE")
        if "UIDPLUS" in imap.capabilities:
            _ok(imap.uid("EXPUNGE", uid.decode()), "UID EXPUNGE")
        else:
            _ok(imap.expunge(), "EXPUNGE")
