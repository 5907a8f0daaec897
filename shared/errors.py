"""The one shape of a refusal: the rules say no, with a code the API reports and a message that says why.

Routes do not catch refusals: `shared.service_app.build_app` registers one handler that answers
`{"error": code, "reason": message}` with the status the service's table gives the code.
"""

from collections.abc import Mapping


class Refused(Exception):
    """A request the rules refuse; `code` is the API's error code, the message says why in words."""

    def __init__(self, code: str, reason: str, **details: str) -> None:
        super().__init__(reason)
        self.code = code
        # Further fields of the error body that a route's contract carries (beside error and reason).
        self.details = details


class InvalidRequest(Refused):
    """The request cannot be taken as it is: `reason` is a machine-readable reason, `message` says why in words.

    Its body is `{"error": "invalid_request", "reason": reason, "message": message}` with 422.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__("invalid_request", reason, message=message)
        self.reason = reason
        self.message = message


class NotFound(Refused):
    """What was asked for does not exist (or is not the caller's to see)."""

    def __init__(self, message: str) -> None:
        super().__init__("not_found", message)


# Codes every service shares; a service's own table adds to (or overrides) these.
COMMON_STATUS: Mapping[str, int] = {
    "not_found": 404,
    "forbidden": 403,
    "invalid_request": 422,
}
# A code no table names is a conflict with the current state.
DEFAULT_STATUS = 409


def status_of(code: str, table: Mapping[str, int]) -> int:
    return table.get(code) or COMMON_STATUS.get(code) or DEFAULT_STATUS
