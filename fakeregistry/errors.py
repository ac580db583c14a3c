"""Registry errors as the distribution spec spells them: a code, an HTTP status, a JSON body."""

from __future__ import annotations

import json
from collections.abc import Mapping

from harness.util.errors import HarnessError

STATUS: Mapping[str, int] = {
    "BLOB_UNKNOWN": 404,
    "BLOB_UPLOAD_INVALID": 400,
    "BLOB_UPLOAD_UNKNOWN": 404,
    "DIGEST_INVALID": 400,
    "MANIFEST_BLOB_UNKNOWN": 400,
    "MANIFEST_INVALID": 400,
    "MANIFEST_UNKNOWN": 404,
    "MANIFEST_UNVERIFIED": 400,
    "NAME_INVALID": 400,
    "NAME_UNKNOWN": 404,
    "PAGINATION_NUMBER_INVALID": 400,
    "RANGE_INVALID": 416,
    "SIZE_INVALID": 400,
    "TAG_INVALID": 400,
    "UNAUTHORIZED": 401,
    "DENIED": 403,
    "UNSUPPORTED": 405,
    "TOOMANYREQUESTS": 429,
    "UNKNOWN": 500,
}


class RegistryError(HarnessError):
    """A request the registry refuses; becomes ``{"errors":[{code, message, detail}]}``.

    *status* overrides the code's usual status where real registries differ (e.g. 404 for
    an unknown route, 413 for an oversized manifest).
    """

    def __init__(self, code: str, message: str, detail: object = None, *,
                 status: int | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.detail = detail
        self.status = status if status is not None else STATUS[code]
        self.headers = dict(headers or {})

    def body(self) -> bytes:
        entry: dict[str, object] = {"code": self.code, "message": self.message}
        if self.detail is not None:
            entry["detail"] = self.detail
        return json.dumps({"errors": [entry]}).encode()
