"""Debian's Chromium for the portal's browser tests (browsers cannot be downloaded by Playwright here)."""

import shutil
import subprocess

from devstack.processes import SetupError, apt_install

PACKAGES = ("chromium", "chromium-driver", "fonts-dejavu-core")
CHROMIUM = "/usr/bin/chromium"


def ensure_chromium() -> str:
    if not shutil.which(CHROMIUM):
        apt_install(*PACKAGES)
    if not shutil.which(CHROMIUM):
        raise SetupError(f"the browser tests need {', '.join(PACKAGES)}; they could not be installed")
    done = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True, check=False)
    return (done.stdout or done.stderr).strip().splitlines()[0]
