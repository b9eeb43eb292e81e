"""What the emulated ad accounts hold: customer lists and audiences, and how they change.

Why: tests assert on this (which members a list holds, how many lists share a name), so
it keeps what Pinterest hides (a list's type and members) beside what the API renders.
Every method takes the lock, so the HTTP threads and a test's thread see one history.
"""

from __future__ import annotations

import copy
import itertools
import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pinterest_emulator.errors import ApiError, invalid, list_not_found
from pinterest_emulator.paging import ID
from pinterest_emulator.records import parse_records

if TYPE_CHECKING:
    from pinterest_emulator.population import Population

logger = logging.getLogger(__name__)

LIST_TYPES = ("EMAIL", "IDFA", "MAID", "LR_ID", "DLX_ID", "HASHED_PINNER_ID")
OPERATION_TYPES = ("ADD", "REMOVE")
AUDIENCE_TYPES = ("CUSTOMER_LIST", "VISITOR", "ENGAGEMENT", "ACTALIKE", "PERSONA")
MIN_READY_MEMBERS = 100
# What /_emulator/state shows of a list, in this order.
_STATE_FIELDS = (
    "id",
    "name",
    "ad_account_id",
    "list_type",
    "members",
    "num_batches",
    "num_uploaded_user_records",
    "num_removed_user_records",
    "status",
)


@dataclass(frozen=True)
class EmulatedList:
    """A snapshot of one customer list, including what Pinterest keeps hidden."""

    id: str
    name: str
    ad_account_id: str
    list_type: str
    members: frozenset[str]
    num_batches: int
    status: str


@dataclass
class _List:
    id: str
    name: str
    ad_account_id: str
    list_type: str
    members: set[str]
    created_time: int
    updated_time: int
    num_batches: int = 1
    num_uploaded_user_records: int = 0
    num_removed_user_records: int = 0
    population: Population | None = None

    def matched(self) -> int:
        """Entries that match a Pinterest user: all of them without a population (see population.py)."""
        if self.population is None:
            return len(self.members)
        return self.population.matched(self.list_type, self.members)

    @property
    def status(self) -> str:
        # The threshold is Pinterest's ([spec] CustomerList.status: "TOO_SMALL - the list has
        # less than 100 Pinterest users"). Assumption: without a population every identifier
        # matches a Pinterest user; the status is known at once, never PROCESSING or
        # UPLOADING (undocumented).
        return "TOO_SMALL" if self.matched() < MIN_READY_MEMBERS else "READY"

    def as_api(self) -> dict[str, Any]:
        """Render as Pinterest's ``CustomerList`` (which has no ``list_type``)."""
        return {
            "id": self.id,
            "name": self.name,
            "ad_account_id": self.ad_account_id,
            "created_time": self.created_time,
            "updated_time": self.updated_time,
            "num_batches": self.num_batches,
            "num_uploaded_user_records": self.num_uploaded_user_records,
            "num_removed_user_records": self.num_removed_user_records,
            "status": self.status,
            "type": "customerlist",
            "exceptions": {},
        }

    def as_json(self) -> dict[str, Any]:
        """Everything held, hidden fields included, for ``/_emulator/state``."""
        held = {**self.as_api(), "list_type": self.list_type, "members": sorted(self.members)}
        return {key: held[key] for key in _STATE_FIELDS}

    def snapshot(self) -> EmulatedList:
        return EmulatedList(
            id=self.id,
            name=self.name,
            ad_account_id=self.ad_account_id,
            list_type=self.list_type,
            members=frozenset(self.members),
            num_batches=self.num_batches,
            status=self.status,
        )


def _by_id(item: dict[str, Any]) -> int:
    return int(item["id"])


class AdAccounts:
    """The ad accounts' customer lists and audiences, behind one lock."""

    def __init__(
        self, ad_account_ids: tuple[str, ...], population: Population | None = None, size_lag_seconds: float = 0.0
    ) -> None:
        """Start with no lists; ids count from now in milliseconds, so they look like Pinterest's.

        ``population``: the people on Pinterest an audience's size counts (population.py);
        None, every entry matches. ``size_lag_seconds``: an audience's size is null, its status
        INITIALIZING, for that long after it is made.
        """
        self.ids = ad_account_ids
        self.population = population
        self.size_lag_seconds = size_lag_seconds
        self._born: dict[str, float] = {}
        self._lock = threading.Lock()
        self._lists: dict[str, _List] = {}
        self._audiences: dict[str, dict[str, Any]] = {}
        self._duplicate_name_creates = 0
        self._applied_writes = 0
        self._deleted_lists: list[str] = []
        # Assumption: ids are digits that grow with creation time (the spec gives their form,
        # ^\d+$, and that higher ids are more recent; their values are undocumented).
        self._next_id = itertools.count(int(time.time()) * 1000)

    # -- ad accounts ----------------------------------------------------------------------------
    def require(self, account: str) -> None:
        """A 404 code 2 for an ad account the emulator does not hold."""
        if account not in self.ids:
            raise ApiError(404, 2, "AdAccount not found.")

    @staticmethod
    def render_account(account: str) -> dict[str, Any]:
        """Pinterest's ``AdAccount`` for an emulated account."""
        return {
            "id": account,
            "name": f"Emulated ad account {account}",
            "currency": "USD",
            "country": "US",
            "owner": {"id": "1000000000001", "username": "emulator"},
            "permissions": ["OWNER"],
            "created_time": 1451431341,
            "updated_time": 1451431341,
        }

    # -- customer lists -------------------------------------------------------------------------
    def _get(self, account: str, list_id: str) -> _List:
        """Find a live list of the account; call with the lock held."""
        found = self._lists.get(list_id)
        if found is None or found.ad_account_id != account:
            raise list_not_found()
        return found

    def has_list(self, account: str, list_id: str) -> bool:
        """Whether the account holds that list (and it was not deleted)."""
        with self._lock:
            found = self._lists.get(list_id)
            return found is not None and found.ad_account_id == account

    def get_list(self, account: str, list_id: str) -> dict[str, Any]:
        """The list as the API renders it, or 404 code 1."""
        with self._lock:
            return self._get(account, list_id).as_api()

    def list_items(self, account: str) -> list[dict[str, Any]]:
        """The account's live lists as the API renders them, for paging."""
        with self._lock:
            return [item.as_api() for item in self._lists.values() if item.ad_account_id == account]

    def create_list(self, account: str, request: dict[str, Any], max_records: int | None) -> dict[str, Any]:
        """Create a list from a ``CustomerListRequest`` already checked against the schema."""
        name = request.get("name")
        if not isinstance(name, str) or not name.strip():
            raise invalid("name is required and must be a non-empty string")
        list_type = request.get("list_type", "EMAIL")
        if list_type not in LIST_TYPES:
            raise invalid(f"list_type must be one of {', '.join(LIST_TYPES)}")
        records = parse_records(request.get("records"), list_type)
        _check_size(records, max_records)
        now = int(time.time())
        with self._lock:
            # Assumption: Pinterest accepts a second list with a name the account already
            # has (undocumented); counted so tests can assert the target never does it.
            if any(i.ad_account_id == account and i.name == name for i in self._lists.values()):
                self._duplicate_name_creates += 1
                logger.warning("A second customer list with an existing name was created")
            created = _List(
                id=str(next(self._next_id)),
                name=name,
                ad_account_id=account,
                list_type=list_type,
                members=set(records),
                created_time=now,
                updated_time=now,
                num_uploaded_user_records=len(records),
                population=self.population,
            )
            self._lists[created.id] = created
            self._applied_writes += 1
            return created.as_api()

    def update_list(
        self, account: str, list_id: str, request: dict[str, Any], max_records: int | None
    ) -> dict[str, Any]:
        """ADD or REMOVE the records of a ``CustomerListUpdateRequest``."""
        operation = request.get("operation_type")
        if operation not in OPERATION_TYPES:
            raise invalid("operation_type is required and must be ADD or REMOVE")
        with self._lock:
            target = self._get(account, list_id)
            records = parse_records(request.get("records"), target.list_type)
            _check_size(records, max_records)
            if operation == "ADD":
                target.members.update(records)
                target.num_uploaded_user_records += len(records)
            else:
                target.members.difference_update(records)
                target.num_removed_user_records += len(records)
            target.num_batches += 1
            target.updated_time = int(time.time())
            self._applied_writes += 1
            return target.as_api()

    def delete_list(self, list_id: str) -> None:
        """Forget a list and the audiences on it; KeyError if there is none."""
        # Assumption: a list deleted in Ads Manager takes its audience with it and leaves the
        # account's list pages (undocumented: the API has no DELETE for customer lists).
        with self._lock:
            if self._lists.pop(list_id, None) is None:
                raise KeyError(list_id)
            self._deleted_lists.append(list_id)
            for audience_id, audience in list(self._audiences.items()):
                if audience["rule"].get("customer_list_id") == list_id:
                    del self._audiences[audience_id]

    def snapshots(self, account: str | None = None) -> list[EmulatedList]:
        """Snapshots of the live lists (of one account, or all), ordered by id."""
        with self._lock:
            lists = [
                item.snapshot() for item in self._lists.values() if account is None or item.ad_account_id == account
            ]
        return sorted(lists, key=lambda item: int(item.id))

    # -- audiences ------------------------------------------------------------------------------
    def _render_audience(self, audience: dict[str, Any]) -> dict[str, Any]:
        """Render an audience; size and status follow its list (call with the lock held)."""
        # Assumption: an audience's size is its list's matched entries (all of them without a
        # population), known at once or after size_lag_seconds (undocumented; Hightouch and
        # Braze say sizes lag 24 to 48 h), READY from 100 ([spec] Audience.status).
        rendered = copy.deepcopy(audience)
        born = self._born.get(audience["id"], 0.0)
        if time.monotonic() - born < self.size_lag_seconds:
            rendered["size"] = None
            rendered["status"] = "INITIALIZING"
            return rendered
        source = self._lists.get(audience["rule"]["customer_list_id"])
        size = source.matched() if source else 0
        rendered["size"] = size
        rendered["status"] = "READY" if size >= MIN_READY_MEMBERS else "TOO_SMALL"
        return rendered

    def audiences(self, account: str | None = None) -> list[dict[str, Any]]:
        """The audiences (of one account, or all) as the API renders them, ordered by id."""
        with self._lock:
            return [
                self._render_audience(audience)
                for audience in sorted(self._audiences.values(), key=_by_id)
                if account is None or audience["ad_account_id"] == account
            ]

    def create_audience(self, account: str, request: dict[str, Any]) -> dict[str, Any]:
        """Create a ``CUSTOMER_LIST`` audience from an ``AudienceCreateRequest``."""
        name = request.get("name")
        if not isinstance(name, str) or not name.strip():
            raise invalid("name is required and must be a non-empty string")
        audience_type = request.get("audience_type")
        if audience_type not in AUDIENCE_TYPES:
            raise invalid(f"audience_type must be one of {', '.join(AUDIENCE_TYPES)}")
        if audience_type != "CUSTOMER_LIST":
            raise invalid("The emulator only supports CUSTOMER_LIST audiences")
        if request.get("ad_account_id", account) != account:
            raise invalid("ad_account_id in the body does not match the path")
        rule = request.get("rule")
        list_id = rule.get("customer_list_id") if isinstance(rule, dict) else None
        if not isinstance(list_id, str) or not ID.fullmatch(list_id):
            raise invalid("rule.customer_list_id is required and must be a string of digits")
        now = int(time.time())
        with self._lock:
            known = self._lists.get(list_id)
            # Assumption: a rule naming no list of the account is a 400 code 1 (undocumented).
            if known is None or known.ad_account_id != account:
                msg = f"rule.customer_list_id {list_id} is not a customer list of this account"
                raise invalid(msg)
            audience = {
                "id": str(next(self._next_id)),
                "ad_account_id": account,
                "name": name,
                "audience_type": audience_type,
                "description": request.get("description"),
                "rule": copy.deepcopy(rule),
                "created_timestamp": now,
                "updated_timestamp": now,
                "created_by_company_name": None,
                "type": "audience",
            }
            self._audiences[audience["id"]] = audience
            self._born[audience["id"]] = time.monotonic()
            return self._render_audience(audience)

    # -- for tests ----------------------------------------------------------------------------------
    @property
    def duplicate_name_creates(self) -> int:
        """How many lists were created with a name a live list of their account had."""
        with self._lock:
            return self._duplicate_name_creates

    @property
    def applied_writes(self) -> int:
        """Customer-list writes applied since start or ``reset()``."""
        with self._lock:
            return self._applied_writes

    def duplicate_names(self, account: str | None = None) -> dict[str, dict[str, int]]:
        """Names that more than one live list, or audience, of an account hold, with counts."""
        with self._lock:
            lists = Counter(
                (item.ad_account_id, item.name)
                for item in self._lists.values()
                if account is None or item.ad_account_id == account
            )
            audiences = Counter(
                (item["ad_account_id"], item["name"])
                for item in self._audiences.values()
                if account is None or item["ad_account_id"] == account
            )
        return {
            "customer_lists": {name: count for (_, name), count in lists.items() if count > 1},
            "audiences": {name: count for (_, name), count in audiences.items() if count > 1},
        }

    def as_json(self) -> dict[str, Any]:
        """Everything held, as JSON-ready data (``/_emulator/state`` adds the fault counts)."""
        with self._lock:
            return {
                "ad_accounts": list(self.ids),
                "customer_lists": [item.as_json() for item in sorted(self._lists.values(), key=lambda i: int(i.id))],
                "audiences": [self._render_audience(a) for a in sorted(self._audiences.values(), key=_by_id)],
                "duplicate_name_creates": self._duplicate_name_creates,
                "deleted_customer_lists": list(self._deleted_lists),
                "applied_writes": self._applied_writes,
            }

    def reset(self) -> None:
        """Forget every list and audience."""
        with self._lock:
            self._lists.clear()
            self._audiences.clear()
            self._duplicate_name_creates = 0
            self._deleted_lists.clear()
            self._applied_writes = 0


def _check_size(records: list[str], limit: int | None) -> None:
    """413 for a write above ``Faults.max_records_per_request``."""
    # Assumption: Pinterest refuses a write that is too large with 413 and refuses all of it
    # (undocumented, as is the largest write: PINTEREST.md, "Largest request").
    if limit is not None and len(records) > limit:
        raise ApiError(413, 1, f"Request entity too large: {len(records)} records, at most {limit} accepted.")
