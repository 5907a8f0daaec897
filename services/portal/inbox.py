"""The inbox page's filter and order as the address bar carries them (German words) and as the workflow asks.

The rules themselves (what "due soon" means, the order, the paging) are the workflow's
(`services.workflow.domain.inbox`); this module only translates the page's choices and builds its links.
"""

from dataclasses import asdict, dataclass, replace
from typing import Any
from urllib.parse import urlencode

from services.portal.wording import t, t_or

PAGE_SIZE = 100
# The page's words → the workflow API's values.
DUE = {"ueberfaellig": "overdue", "bald": "due_soon"}
SORT = {"frist": "deadline", "eingang": "received", "titel": "title"}
ORDER = {"auf": "asc", "ab": "desc"}


@dataclass(frozen=True)
class InboxFilter:
    faellig: str = ""  # "", ueberfaellig, bald
    schritt: str = ""
    einheit: str = ""
    suche: str = ""  # part of the title or Aktenzeichen
    sortierung: str = "frist"  # frist, eingang, titel
    reihenfolge: str = "auf"  # auf, ab
    seite: int = 1

    @classmethod
    def of(cls, params: dict[str, str]) -> "InboxFilter":
        """The filter from the address bar; an unknown value falls back to the default rather than failing."""
        try:
            seite = max(1, int(params.get("seite") or 1))
        except ValueError:
            seite = 1
        return cls(
            faellig=_known(params.get("faellig", ""), DUE, ""),
            schritt=params.get("schritt", "")[:200],
            einheit=params.get("einheit", "")[:50],
            suche=params.get("suche", "")[:200],
            sortierung=_known(params.get("sortierung", ""), SORT, "frist"),
            reihenfolge=_known(params.get("reihenfolge", ""), ORDER, "auf"),
            seite=seite,
        )

    def api_params(self) -> dict[str, Any]:
        """The query of the workflow's `GET /api/v1/inbox` for this page."""
        return {
            "due": DUE.get(self.faellig, ""),
            "step": self.schritt,
            "org_unit": self.einheit,
            "text": self.suche,
            "sort": SORT[self.sortierung],
            "order": ORDER[self.reihenfolge],
            "limit": PAGE_SIZE,
            "offset": (self.seite - 1) * PAGE_SIZE,
        }

    def link(self, **changes: Any) -> str:
        """The address of this inbox with some choices changed (defaults left out, so links stay short)."""
        chosen = asdict(replace(self, **changes))
        defaults = asdict(InboxFilter())
        return "/aufgaben?" + urlencode({k: v for k, v in chosen.items() if v != defaults[k]})

    def page_link(self) -> str:
        """The pager's prefix: the page number is appended."""
        base = self.link(seite=1)
        return base + ("" if base.endswith("?") else "&") + "seite="

    @property
    def active(self) -> bool:
        return bool(self.faellig or self.schritt or self.einheit or self.suche)


def pages(total: int) -> int:
    return max(1, -(-total // PAGE_SIZE))


def outcome_text(result: dict[str, Any]) -> str:
    """One task's outcome of a decision on several, in German."""
    if result.get("ok"):
        return t("inbox.outcome_approved")
    code = str(result.get("error") or "")
    return t_or(f"decision_errors.{code}", t_or(f"inbox.errors.{code}", t("inbox.errors.other")))


def _known(value: str, allowed: dict[str, str], default: str) -> str:
    return value if value in allowed else default
