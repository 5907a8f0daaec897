"""A document's timeline as a clerk reads it: what happened (who, when) and what is still to come."""

from dataclasses import dataclass
from typing import Any

from services.portal.wording import t_or

# The lifecycle in order; OCR and returns are entries beside it, shown where they happened.
LIFECYCLE = ("received", "in_review", "decided", "archived")
DECIDED = {"approved", "rejected"}
FINAL = {"archived", "rejected"}


@dataclass(frozen=True)
class Step:
    status: str
    label: str
    at: str | None  # ISO time from the service; None for a step still to come
    by: str
    done: bool


def timeline(document: dict[str, Any]) -> list[Step]:
    history = sorted(document.get("history", []), key=lambda h: h["at"])
    steps = [Step(h["status"], _label(h["status"]), h["at"], h["by"], True) for h in history]
    reached = {h["status"] for h in history}
    if document.get("awaiting_revision"):
        return steps  # back with the clerk: what comes next depends on the new version
    for stage in LIFECYCLE:
        if stage == "decided":
            if not reached & DECIDED:
                steps.append(Step(stage, _label("pending.decided"), None, "", False))
        elif stage == "archived" and "rejected" in reached:
            continue  # a rejected document is archived only where its file plan class says so
        elif stage not in reached and not (stage == "in_review" and reached & DECIDED):
            steps.append(Step(stage, _label(f"pending.{stage}"), None, "", False))
    return steps


def is_final(document: dict[str, Any]) -> bool:
    """Nothing more is expected by itself: archived, rejected, or back with the clerk for a new version."""
    return document.get("status") in FINAL or bool(document.get("awaiting_revision"))


def _label(status: str) -> str:
    return t_or(f"status.{status}", status)
