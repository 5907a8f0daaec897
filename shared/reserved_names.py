"""Names the system itself acts under: nobody signs in as one of them (portal, OIDC, tokens, `eakte token`)."""

SYSTEM = "system"
SCANNER = "scanner"
RESERVED_NAMES = frozenset({SYSTEM, SCANNER})
# Online applications (FIT-Connect) are filed as submitted by the channel: whoever signed in under this name would
# see every one of them as their submitter.
FITCONNECT = "fitconnect"
RESERVED_NAMES = RESERVED_NAMES | {FITCONNECT}


def is_reserved(name: str, hotfolder_user: str = SCANNER) -> bool:
    """Whether `name` is the system's: the fixed names, and the hot-folder's configured user (EAKTE_HOTFOLDER_USER)."""
    folded = name.strip().casefold()
    return folded in RESERVED_NAMES or folded == hotfolder_user.strip().casefold()
