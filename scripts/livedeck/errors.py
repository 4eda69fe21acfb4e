"""The one error type a user of livedeck can hit, with what to do about it."""


class LivedeckError(Exception):
    """A failure the user can fix: the message names the file, slide, chart or experiment and the fix.

    `code` is a short stable identifier (for example "experiment-failed") that tests and scripts
    can match without parsing the message.
    """

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return self.message
