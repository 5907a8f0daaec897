"""The one shape of a refusal: the rules say no, with a code the API reports and a message that says why."""


class Refused(Exception):
    """A request the rules refuse; `code` is the API's error code, the message says why in words."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
