"""The municipality's org units (`Organisationseinheiten`): who belongs where and who heads what."""

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class OrgUnit:
    """An org unit (`Organisationseinheit`, e.g. 50 Sozialamt) with its head (`Amtsleitung`) and members."""

    unit_id: str
    name: str
    head: str
    members: frozenset[str]
    parent: str | None = None

    @property
    def people(self) -> frozenset[str]:
        return self.members | {self.head}


@dataclass(frozen=True)
class Organisation:
    units: Mapping[str, OrgUnit]

    def units_of(self, user: str) -> frozenset[str]:
        return frozenset(unit.unit_id for unit in self.units.values() if user in unit.people)

    def home_unit(self, user: str) -> str | None:
        """The unit a user works in: where they are a member, else where they are the head (lowest id first)."""
        member_of = sorted(u.unit_id for u in self.units.values() if user in u.members)
        headed = sorted(u.unit_id for u in self.units.values() if u.head == user)
        found = member_of or headed
        return found[0] if found else None

    def head_of(self, unit_id: str) -> str:
        return self.units[unit_id].head
