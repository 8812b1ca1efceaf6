"""Errors the domain raises; the API maps them onto status codes and the pages onto visible hints."""


class ServiceError(Exception):
    status_code = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(ServiceError):
    status_code = 404


class Forbidden(ServiceError):
    status_code = 403


class Conflict(ServiceError):
    status_code = 409


class Invalid(ServiceError):
    status_code = 422


class Unauthorized(ServiceError):
    status_code = 401


class Unavailable(ServiceError):
    """Something outside (a cloud provider) cannot be reached now; trying again later may work."""
    status_code = 503


class NeedsConfirmation(Conflict):
    """The change is allowed but has consequences the user must accept first (the message says which); asking again
    with confirmation carries it out."""


class TooLarge(ServiceError):
    """Larger than this server takes (an artifact over TRAINBOARD_MAX_ARTIFACT_BYTES): refused before any upload."""
    status_code = 413
