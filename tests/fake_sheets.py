"""A stateful fake of the part of the Google Sheets API v4 a SpreadsheetStorer uses, and of
the OAuth 2.0 token endpoint a service account signs in at, on 127.0.0.1.

Test support, not product. Payloads, status codes and error bodies follow the
published Sheets API v4 reference (developers.google.com/sheets/api/reference/rest)
and Google's OAuth 2.0 for service accounts; only the fields gspread and the
storer read are filled. Errors answer with Google's JSON error body:
``{"error": {"code": ..., "message": ..., "status": ...}}``.

The documented operations it serves:

======  ========================================  ==========================================
method  path                                      operation
======  ========================================  ==========================================
POST    /token                                    OAuth 2.0 token request, JWT bearer grant
                                                  (RFC 7523), the key's ``token_uri``
GET     /v4/spreadsheets/{spreadsheetId}          spreadsheets.get (``ranges``,
                                                  ``includeGridData``; ``fields`` is
                                                  accepted, the answer is not narrowed)
POST    /v4/spreadsheets/{spreadsheetId}          spreadsheets.batchUpdate with
        :batchUpdate                              ``updateCells``, ``deleteDimension`` and
                                                  ``appendCells`` requests, applied
                                                  atomically
======  ========================================  ==========================================

The token endpoint checks the assertion's RS256 signature against the
account's public key, its audience and its scope, and issues a bearer
token; the Sheets API answers 401 without one, 403 when the spreadsheet is
not shared with the token's account, 404 for an unknown spreadsheet and 400
"Unable to parse range" for an unknown worksheet. It counts Sheets reads
(GET) and writes (POST) apart from token requests; :meth:`FakeSheets.exceed_quota`
answers the next requests with 429 ``RESOURCE_EXHAUSTED``, :meth:`FakeSheets.fail_next`
with a 5xx (the write not applied). Tests edit a
worksheet "by hand" through :meth:`FakeSheets.set_row` and friends.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import re
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import jwt

SPREADSHEETS_SCOPE = "https://www.googleapis.com/auth/spreadsheets"
TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
"""The audience a service account's assertion names: Google's token endpoint, whichever
``token_uri`` it is posted to (google-auth signs it so)."""
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
QUOTA_MESSAGE = (
    "Quota exceeded for quota metric '{kind} requests' and limit '{kind} requests per minute "
    "per user' of service 'sheets.googleapis.com' for consumer 'project_number:1000'."
)

Value = str | int | float | bool | None


class Answer(Exception):
    """Raise inside a route to answer with an error status and Google's error body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {
            "error": {"code": status, "message": message, "status": STATUS_NAMES[status]}
        }


@dataclass
class Sheet:
    """One worksheet: its id (gid), title, grid size and cell values, row by row."""

    sheet_id: int
    title: str
    rows: list[list[Value]] = field(default_factory=list)
    row_count: int = 1000
    column_count: int = 26


@dataclass
class Spreadsheet:
    spreadsheet_id: str
    title: str
    sheets: list[Sheet] = field(default_factory=list)
    editors: set[str] = field(default_factory=set)


def service_account_key(token_uri: str, email: str) -> tuple[dict[str, str], bytes]:
    """Return a new service-account key (as Google's JSON key file has it) and its public key."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    key = {
        "type": "service_account",
        "project_id": "course-admin",
        "private_key_id": secrets.token_hex(20),
        "private_key": pem,
        "client_email": email,
        "client_id": "100000000000000000001",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
    }
    return key, public


class FakeSheets:
    """Spreadsheets, the accounts that may sign in, and the HTTP server that serves them."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.spreadsheets: dict[str, Spreadsheet] = {}
        self.public_keys: dict[str, bytes] = {}  # account email -> public key PEM
        self.tokens: dict[str, str] = {}  # bearer token -> account email
        self.ids = itertools.count(1_000_001)
        self.reads = 0
        self.writes = 0
        self.token_requests = 0
        self.requests: list[tuple[str, str, int]] = []
        self.batches: list[list[dict[str, Any]]] = []
        """The ``requests`` of every batchUpdate received, applied or not."""
        self._faults: list[tuple[str, int]] = []  # (method, status) of the next answers
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.token_uri = f"{self.url}/token"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    # Lifecycle and test set-up

    def start(self) -> FakeSheets:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def add_account(self, email: str) -> dict[str, str]:
        """Return the JSON key of a new service account that may sign in."""
        key, public = service_account_key(self.token_uri, email)
        self.public_keys[email] = public
        return key

    def add_spreadsheet(self, title: str, tabs: list[str], editors: list[str]) -> Spreadsheet:
        with self.lock:
            spreadsheet = Spreadsheet(secrets.token_urlsafe(30), title, editors=set(editors))
            for tab in tabs:
                spreadsheet.sheets.append(Sheet(next(self.ids), tab))
            self.spreadsheets[spreadsheet.spreadsheet_id] = spreadsheet
            return spreadsheet

    def sheet(self, spreadsheet_id: str, tab: str) -> Sheet:
        return next(s for s in self.spreadsheets[spreadsheet_id].sheets if s.title == tab)

    def values(self, spreadsheet_id: str, tab: str) -> list[list[Value]]:
        """Return a worksheet's rows as a person sees them: trailing empty cells and rows cut."""
        with self.lock:
            rows = [_trimmed(row) for row in self.sheet(spreadsheet_id, tab).rows]
        while rows and not rows[-1]:
            rows.pop()
        return rows

    def set_row(self, spreadsheet_id: str, tab: str, index: int, values: list[Value]) -> None:
        """Type ``values`` into row ``index`` (0-based) by hand, as a person would."""
        with self.lock:
            rows = self.sheet(spreadsheet_id, tab).rows
            while len(rows) <= index:
                rows.append([])
            rows[index] = list(values)

    def exceed_quota(self, count: int, method: str = "GET") -> None:
        """Answer the next ``count`` Sheets requests made with ``method`` with 429."""
        self.fail_next(count, method, 429)

    def fail_next(self, count: int, method: str = "POST", status: int = 503) -> None:
        """Answer the next ``count`` Sheets requests made with ``method`` with ``status``."""
        with self.lock:
            self._faults = [(method, status)] * count

    def reset_counts(self) -> None:
        with self.lock:
            self.reads = self.writes = self.token_requests = 0
            self.requests = []
            self.batches = []

    # The token endpoint

    def token(self, form: dict[str, str]) -> tuple[int, Any]:
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return 400, {"error": "unsupported_grant_type", "error_description": "Invalid grant"}
        assertion = form.get("assertion", "")
        try:
            claims = jwt.decode(assertion, verify=False)
            public = self.public_keys[claims["iss"]]
            claims = jwt.decode(assertion, certs=public, audience=TOKEN_AUDIENCE)
        except Exception:
            return 400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
        if SPREADSHEETS_SCOPE not in str(claims.get("scope", "")).split():
            return 400, {"error": "invalid_scope", "error_description": "Invalid OAuth scope."}
        bearer = f"ya29.{secrets.token_urlsafe(32)}"
        with self.lock:
            self.tokens[bearer] = claims["iss"]
        return 200, {"access_token": bearer, "expires_in": 3599, "token_type": "Bearer"}

    # spreadsheets.get

    def get_spreadsheet(self, spreadsheet: Spreadsheet, query: dict[str, list[str]]) -> Any:
        ranges = query.get("ranges", [])
        sheets = [_sheet_of(spreadsheet, name) for name in ranges] or spreadsheet.sheets
        grid = query.get("includeGridData", ["false"])[0] == "true"
        return {
            "spreadsheetId": spreadsheet.spreadsheet_id,
            "properties": {"title": spreadsheet.title, "locale": "en_US", "timeZone": "Etc/GMT"},
            "sheets": [_sheet_payload(sheet, grid) for sheet in sheets],
        }

    # spreadsheets.batchUpdate

    def batch_update(self, spreadsheet: Spreadsheet, body: dict[str, Any]) -> Any:
        """Apply every request to a copy, and keep the copy only if all of them succeed."""
        requests = body.get("requests") or []
        self.batches.append(requests)
        sheets = copy.deepcopy(spreadsheet.sheets)
        replies = []
        for number, request in enumerate(requests):
            (kind, params), *others = request.items()
            if others or kind not in _REQUESTS:
                raise Answer(400, f"Invalid requests[{number}]: unsupported request {kind!r}")
            try:
                replies.append(_REQUESTS[kind](sheets, params))
            except ValueError as exc:
                raise Answer(400, f"Invalid requests[{number}].{kind}: {exc}") from None
        spreadsheet.sheets = sheets
        return {"spreadsheetId": spreadsheet.spreadsheet_id, "replies": replies}

    # HTTP

    def handle(self, method: str, target: str, headers: Any, raw: bytes) -> tuple[int, Any]:
        parts = urlsplit(target)
        if parts.path == "/token" and method == "POST":
            with self.lock:
                self.token_requests += 1
            form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
            return self.token(form)
        query = parse_qs(parts.query)
        with self.lock:
            if method == "GET":
                self.reads += 1
            else:
                self.writes += 1
            fault = (
                self._faults.pop(0)[1] if self._faults[:1] and self._faults[0][0] == method else 0
            )
        try:
            if fault == 429:
                kind = "Read" if method == "GET" else "Write"
                raise Answer(429, QUOTA_MESSAGE.format(kind=kind))
            if fault:
                raise Answer(fault, "The service is currently unavailable.")
            status, payload = 200, self._route(method, parts.path, query, headers, raw)
        except Answer as answer:
            status, payload = answer.status, answer.body
        with self.lock:
            self.requests.append((method, parts.path, status))
        return status, payload

    def _route(self, method: str, path: str, query: Any, headers: Any, raw: bytes) -> Any:
        match = re.fullmatch(r"/v4/spreadsheets/([^/:]+)(:batchUpdate)?", unquote(path))
        if not match or (method == "POST") != bool(match[2]) or method not in ("GET", "POST"):
            raise Answer(404, "Requested entity was not found.")
        bearer = headers.get("Authorization", "").removeprefix("Bearer ")
        with self.lock:
            account = self.tokens.get(bearer)
            if account is None:
                raise Answer(
                    401,
                    "Request is missing required authentication credential. Expected OAuth 2 "
                    "access token, login cookie or other valid authentication credential.",
                )
            spreadsheet = self.spreadsheets.get(match[1])
            if spreadsheet is None:
                raise Answer(404, "Requested entity was not found.")
            if account not in spreadsheet.editors:
                raise Answer(403, "The caller does not have permission")
            if method == "GET":
                return self.get_spreadsheet(spreadsheet, query)
            return self.batch_update(spreadsheet, json.loads(raw or b"{}"))

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                status, payload = fake.handle(self.command, self.path, self.headers, raw)
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


# Worksheets as the API shows them


def _sheet_of(spreadsheet: Spreadsheet, range_: str) -> Sheet:
    """Return the sheet an A1 range names (``'My tab'``, ``Tab``, ``'Tab'!A1:C3``)."""
    name = range_.rsplit("!", 1)[0] if "!" in range_ else range_
    if len(name) >= 2 and name[0] == name[-1] == "'":
        name = name[1:-1].replace("''", "'")
    for sheet in spreadsheet.sheets:
        if sheet.title == name:
            return sheet
    raise Answer(400, f"Unable to parse range: {range_}")


def _sheet_payload(sheet: Sheet, grid: bool) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "properties": {
            "sheetId": sheet.sheet_id,
            "title": sheet.title,
            "index": 0,
            "sheetType": "GRID",
            "gridProperties": {"rowCount": sheet.row_count, "columnCount": sheet.column_count},
        }
    }
    if grid:
        rows = [[_cell_payload(value) for value in _trimmed(row)] for row in sheet.rows]
        while rows and not rows[-1]:
            rows.pop()
        payload["data"] = [{"rowData": [{"values": row} if row else {} for row in rows]}]
    return payload


def _trimmed(row: list[Value]) -> list[Value]:
    row = list(row)
    while row and row[-1] in (None, ""):
        row.pop()
    return row


def _cell_payload(value: Value) -> dict[str, Any]:
    if value is None or value == "":
        return {}
    if isinstance(value, bool):
        typed, shown = {"boolValue": value}, "TRUE" if value else "FALSE"
    elif isinstance(value, int | float):
        typed, shown = {"numberValue": value}, _number_text(value)
    else:
        typed, shown = {"stringValue": value}, value
    return {"userEnteredValue": typed, "effectiveValue": typed, "formattedValue": shown}


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


# batchUpdate requests: each changes the sheets it is given or raises ValueError


def _find(sheets: list[Sheet], sheet_id: Any) -> Sheet:
    for sheet in sheets:
        if sheet.sheet_id == sheet_id:
            return sheet
    raise ValueError(f"No grid with id: {sheet_id}")


def _value_of(cell: dict[str, Any], fields: str) -> Value:
    if fields != "userEnteredValue":
        raise ValueError(f"fields {fields!r} are not served by this fake")
    entered = cell.get("userEnteredValue")
    if not entered:
        return None
    ((kind, value),) = entered.items()
    if kind == "numberValue" and not (isinstance(value, int | float) and math.isfinite(value)):
        raise ValueError(f"Invalid value at numberValue: {value!r}")
    if kind not in ("stringValue", "numberValue", "boolValue"):
        raise ValueError(f"userEnteredValue.{kind} is not served by this fake")
    return value


def _write_row(sheet: Sheet, row: int, column: int, values: list[Value]) -> None:
    if row >= sheet.row_count or column + len(values) > sheet.column_count:
        raise ValueError(
            f"Range ({sheet.title}!R{row + 1}C{column + len(values)}) exceeds grid limits. "
            f"Max rows: {sheet.row_count}, max columns: {sheet.column_count}"
        )
    while len(sheet.rows) <= row:
        sheet.rows.append([])
    cells = sheet.rows[row]
    cells.extend([None] * (column + len(values) - len(cells)))
    cells[column : column + len(values)] = values


def _update_cells(sheets: list[Sheet], params: dict[str, Any]) -> dict[str, Any]:
    start = params["start"]
    sheet = _find(sheets, start.get("sheetId", 0))
    row0, column = start.get("rowIndex", 0), start.get("columnIndex", 0)
    for offset, row in enumerate(params.get("rows") or []):
        values = [_value_of(cell, params["fields"]) for cell in row.get("values") or []]
        _write_row(sheet, row0 + offset, column, values)
    return {}


def _delete_dimension(sheets: list[Sheet], params: dict[str, Any]) -> dict[str, Any]:
    grid_range = params["range"]
    sheet = _find(sheets, grid_range.get("sheetId", 0))
    if grid_range.get("dimension") != "ROWS":
        raise ValueError("only ROWS are served by this fake")
    start, stop = grid_range.get("startIndex", 0), grid_range["endIndex"]
    if not 0 <= start < stop <= sheet.row_count:
        raise ValueError(f"Invalid range [{start}, {stop}) of a grid of {sheet.row_count} rows")
    if stop - start == sheet.row_count:
        raise ValueError("You can't delete all the rows on the sheet.")
    del sheet.rows[start:stop]
    sheet.row_count -= stop - start
    return {}


def _append_cells(sheets: list[Sheet], params: dict[str, Any]) -> dict[str, Any]:
    sheet = _find(sheets, params["sheetId"])
    while sheet.rows and not _trimmed(sheet.rows[-1]):
        sheet.rows.pop()
    rows = params.get("rows") or []
    sheet.row_count = max(sheet.row_count, len(sheet.rows) + len(rows))  # grows as needed
    first = len(sheet.rows)
    for offset, row in enumerate(rows):
        values = [_value_of(cell, params["fields"]) for cell in row.get("values") or []]
        _write_row(sheet, first + offset, 0, values)
    return {}


_REQUESTS = {
    "updateCells": _update_cells,
    "deleteDimension": _delete_dimension,
    "appendCells": _append_cells,
}
