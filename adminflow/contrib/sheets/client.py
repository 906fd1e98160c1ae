"""One worksheet over the Sheets API: gspread's client, the two calls a storer makes, and
what Google's answers that are not a success mean.

The client is gspread's, authenticated with the service-account key
(``gspread.service_account_from_dict``) for the ``spreadsheets`` scope only,
which is all a storer needs. A storer makes two kinds of call, both gspread's
lower-level ones, so that each is one request:

- :meth:`Worksheet.read`: ``spreadsheets.get`` of the worksheet's range with
  its grid data, which gives in one read the worksheet's id (which writes
  need), its cells' typed values (``effectiveValue``) and what they show
  (``formattedValue``). Opening the spreadsheet as gspread's ``Spreadsheet``
  object and finding the worksheet would cost two more reads.
- :meth:`Worksheet.write`: one ``spreadsheets.batchUpdate`` carrying every
  change of a store. The Sheets API applies a batch atomically: if one of its
  requests is invalid, none is applied, so a store is all or nothing.

Quota answers (429, ``RESOURCE_EXHAUSTED``) are waited out under the
storer's :class:`adminflow.RetryPolicy`, as the Sheets usage limits ask
(exponential backoff; quotas refill every minute); a ``Retry-After`` header
lengthens the wait. A 429 means the request was not carried out, so a write
is sent again too. A 5xx answer or a lost connection is retried for a read
only: a write that got no clear answer may have been applied, and sending a
row deletion twice would delete another row.

``api_url`` sends the Sheets API requests to another address than Google's
(a regional or private endpoint, a proxy, a test server). gspread builds its
URLs from constants, so the storer leaves them as they are and mounts a
``requests`` transport adapter (requests' documented hook for sending a
URL prefix elsewhere) on gspread's session. The token request goes to the
key's own ``token_uri``.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import gspread
import requests
from google.auth.exceptions import GoogleAuthError
from gspread.http_client import ParamsType
from gspread.utils import absolute_range_name
from requests.adapters import HTTPAdapter

from adminflow import AdminflowError, RetryPolicy

SHEETS_API = "https://sheets.googleapis.com"
"""Where gspread sends Sheets API requests."""
SCOPES = ("https://www.googleapis.com/auth/spreadsheets",)
KEY_FIELDS = ("type", "client_email", "private_key", "token_uri")
"""What a service-account key must hold for the storer to sign in with it."""
TIMEOUT = 60.0
"""Seconds to wait for an answer before the request counts as lost."""
GRID_FIELDS = (
    "sheets(properties(sheetId,title),data(rowData(values(effectiveValue,formattedValue))))"
)
"""The parts of a ``spreadsheets.get`` answer a storer reads; a field mask keeps it small."""

T = TypeVar("T")


class SheetsError(AdminflowError):
    """Base of what the storer raises about the Sheets API or the worksheet."""


class SheetsConfigError(SheetsError, ValueError):
    """Raise for a config value the storer cannot use; the message starts with its key."""


class SheetsAccessError(SheetsError):
    """Raise when the spreadsheet or worksheet cannot be reached with the key given."""


class SheetsQuotaExceeded(SheetsError):
    """Raise when quota answers (429) outlasted every attempt the retry policy allows."""


class SheetsUnavailable(SheetsError):
    """Raise for a 5xx answer or a lost connection that retrying did not cure."""


class _ToBase(HTTPAdapter):
    """Send requests addressed to Google's Sheets API to ``base`` instead."""

    def __init__(self, base: str) -> None:
        super().__init__()
        self.base = base.rstrip("/")

    def send(  # type: ignore[override]  # passes requests' keyword arguments on as they come
        self, request: requests.PreparedRequest, **kwargs: Any
    ) -> requests.Response:
        assert request.url is not None
        request.url = self.base + request.url[len(SHEETS_API) :]
        return super().send(request, **kwargs)


def parse_key(text: str) -> dict[str, Any]:
    """Return a service-account key's fields; raise SheetsConfigError naming what is missing."""
    try:
        key = json.loads(text)
    except ValueError:
        raise SheetsConfigError(
            "credentials: expected a service-account key (the JSON file Google Cloud gives), "
            "but it is not JSON"
        ) from None
    if not isinstance(key, dict):
        raise SheetsConfigError("credentials: expected a service-account key, a JSON object")
    missing = [name for name in KEY_FIELDS if not key.get(name)]
    if missing:
        raise SheetsConfigError(f"credentials: the service-account key has no {', '.join(missing)}")
    if key["type"] != "service_account":
        raise SheetsConfigError(
            f"credentials: expected a key of type 'service_account', got {key['type']!r}"
        )
    return key


class Worksheet:
    """One worksheet of one spreadsheet, read and written as a whole range."""

    def __init__(
        self, key: Mapping[str, Any], sheet_id: str, tab: str, api_url: str, retry: RetryPolicy
    ) -> None:
        self.spreadsheet_id = sheet_id
        self.tab = tab
        self.account = str(key["client_email"])
        self.retry = retry
        try:
            self.client = gspread.service_account_from_dict(key, scopes=SCOPES)
        except (ValueError, GoogleAuthError) as exc:
            raise SheetsAccessError(
                f"credentials: the service-account key is unusable: {exc}"
            ) from None
        self.client.set_timeout(TIMEOUT)
        if api_url.rstrip("/") != SHEETS_API:
            self.client.http_client.session.mount(SHEETS_API + "/", _ToBase(api_url))
        self._rng = random.Random()

    @property
    def label(self) -> str:
        return f"worksheet '{self.tab}' of spreadsheet {self.spreadsheet_id}"

    def read(self) -> dict[str, Any]:
        """Return the worksheet's ``properties`` and grid ``data`` (one ``spreadsheets.get``)."""
        params: ParamsType = {
            "ranges": absolute_range_name(self.tab),
            "includeGridData": "true",
            "fields": GRID_FIELDS,
        }
        http = self.client.http_client
        answer = self._call(
            "read", lambda: http.fetch_sheet_metadata(self.spreadsheet_id, params=params)
        )
        (sheet,) = answer["sheets"]
        return dict(sheet)

    def write(self, requests_: list[dict[str, Any]]) -> None:
        """Send ``requests_`` in one ``spreadsheets.batchUpdate``: all applied, or none."""
        body = {"requests": requests_, "includeSpreadsheetInResponse": False}
        http = self.client.http_client
        self._call("write", lambda: http.batch_update(self.spreadsheet_id, body))

    def _call(self, kind: str, call: Callable[[], T]) -> T:
        """Return ``call()``, retrying quota answers (and, for a read, server errors)."""
        failures = 0
        while True:
            try:
                return call()
            except gspread.exceptions.APIError as exc:
                error = self._translate(exc, kind)
                wait = _retry_after(exc.response)
            except requests.RequestException as exc:
                error = SheetsUnavailable(
                    f"{self.label}: no answer from the Sheets API to a {kind} "
                    f"({type(exc).__name__})"
                )
                wait = None
            except GoogleAuthError as exc:
                raise SheetsAccessError(
                    f"{self.label}: Google refused the service account {self.account}: {exc}"
                ) from None
            failures += 1
            retryable = isinstance(error, SheetsQuotaExceeded) or (
                isinstance(error, SheetsUnavailable) and kind == "read"
            )
            if not retryable or failures >= self.retry.max_attempts:
                if retryable:
                    error.args = (f"{error} ({failures} attempts)",)
                raise error
            delay = self.retry.delay(failures, self._rng)
            time.sleep(max(delay, min(wait or 0.0, self.retry.max_backoff)))

    def _translate(self, exc: gspread.exceptions.APIError, kind: str) -> SheetsError:
        status = exc.response.status_code
        message = str(exc.error.get("message", ""))
        said = f"the Sheets API answered {status} {exc.error.get('status', '')}: {message}"
        if status == 429:
            return SheetsQuotaExceeded(f"{self.label}: quota exceeded on a {kind}; {said}")
        if status >= 500:
            return SheetsUnavailable(f"{self.label}: {said}")
        if status == 400 and "Unable to parse range" in message:
            return SheetsAccessError(
                f"tab: spreadsheet {self.spreadsheet_id} has no worksheet '{self.tab}' ({said})"
            )
        if status == 404:
            return SheetsAccessError(
                f"sheet_id: no spreadsheet {self.spreadsheet_id} was found ({said})"
            )
        if status in (401, 403):
            return SheetsAccessError(
                f"{self.label}: the service account {self.account} may not open it; share the "
                f"spreadsheet with {self.account} as an editor ({said})"
            )
        return SheetsError(f"{self.label}: the {kind} was refused; {said}")


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    return float(value) if value.strip().isdigit() else None
