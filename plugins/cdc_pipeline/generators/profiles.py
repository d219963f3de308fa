"""The user-profiles dataset (seed 000): people who sign up, move, change phones, fix emails, have birthdays.

A profile item (the table's key is ``id``)::

    id            S  a UUID
    name          S  "First Last" (Faker)
    email         S  usually first.last@provider; absent or mistyped for a share of users (below)
    phone_number  S  "+1-AAA-EEE-NNNN", with an area code of the user's city
    created_at    S  ISO-8601 UTC: the sign-up, which is the insert itself (see below)
    age           N  whole years, 18..89 at sign-up, weighted like the adults who sign up online
    address       M  {street, city, state, postcode, country}: a skewed set of US and Canadian cities
    updated_at    S  ISO-8601 UTC, the time of the latest write (the change's event time)

``created_at`` is the time of the INSERT, not a random date in the past: a sign-up *is* the insert,
so the hour a user signed up is the lake partition that holds the user's first change, and the
hourly report's "sign-ups in this hour" lines up with the hour it runs for. Sign-ups over the last
months are a run with ``spread_hours`` (up to a year) instead of random history.

Cities are drawn with weights (New York far ahead of Boise), so counts by city have a long tail.
Email issues: with ``invalid_email_share = s`` (default 0.05), each new user has an email problem with
probability ``s``: about a third of them have no email at all (the attribute is absent) and the rest
a realistic typo: no '@', a doubled '@@', no top-level domain, a space, a comma for the dot. Every
valid email matches `EMAIL_PATTERN` and no typo does; the SQL checks and reports use that pattern.

An update is one realistic change: a move (new street; a third of movers change city), a new phone
number, an email change (a missing or mistyped email gets fixed; a valid one changes provider, now
and then with a typo), a birthday (age + 1, at most once per user in a run) or a new surname.
Deletes remove users (account closures). Every profile can still change (`can_update` is always true).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from cdc_pipeline.generators.base import Dataset
from cdc_pipeline.generators.params import check_number, format_utc, hour_start

#: What a valid email looks like, as the checks and reports test it (Trino/RE2 and Python agree on it).
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$"
_EMAIL_RE = re.compile(EMAIL_PATTERN)
DEFAULT_INVALID_EMAIL_SHARE = 0.05
#: Of the users with an email problem, this share has no email at all; the rest have a typo.
MISSING_OF_ISSUES = 0.35
TYPO_KINDS = ("no_at", "double_at", "no_tld", "space", "comma")

#: Age bands of new users: (lowest, highest, weight). Online sign-ups lean to 25-44.
_AGE_BANDS = (
    (18, 24, 16),
    (25, 34, 27),
    (35, 44, 22),
    (45, 54, 15),
    (55, 64, 12),
    (65, 74, 6),
    (75, 89, 2),
)
#: The report's age bands (lower bounds), as `age_band` and the SQL name them.
REPORT_AGE_BANDS = ((18, "18-24"), (25, "25-34"), (35, "35-44"), (45, "45-54"), (55, "55-64"), (65, "65+"))

# Single-label provider domains only: dropping the top-level domain must leave no dot behind.
_EMAIL_DOMAINS = (
    ("gmail.com", 44),
    ("yahoo.com", 12),
    ("outlook.com", 9),
    ("hotmail.com", 8),
    ("icloud.com", 8),
    ("aol.com", 3),
    ("proton.me", 3),
    ("comcast.net", 2),
    ("live.com", 2),
    ("msn.com", 1),
)


@dataclass(frozen=True)
class City:
    """Where users live: a weight, postcode prefixes and phone area codes that belong to the city."""

    name: str
    state: str
    country: str
    weight: float
    postcodes: tuple[str, ...]
    area_codes: tuple[str, ...]

    def draw_postcode(self, rng: Any) -> str:
        prefix = rng.choice(self.postcodes)
        if self.country == "CA":
            # A Canadian postal code: "A1A 1A1", its first letter the city's region.
            letters = "ABCEGHJKLMNPRSTVWXYZ"
            return f"{prefix}{rng.randrange(10)}{rng.choice(letters)} {rng.randrange(10)}{rng.choice(letters)}{rng.randrange(10)}"
        return f"{prefix}{rng.randrange(100):02d}"


def _c(name: str, state: str, weight: float, postcodes: str, area_codes: str, country: str = "US") -> City:
    return City(name, state, country, weight, tuple(postcodes.split()), tuple(area_codes.split()))


CITIES: tuple[City, ...] = (
    _c("New York", "NY", 16, "100 101 102 103 104 112", "212 718 917 646"),
    _c("Los Angeles", "CA", 10, "900 901", "213 310 323 818"),
    _c("Chicago", "IL", 7, "606", "312 773 872"),
    _c("Toronto", "ON", 6, "M", "416 647 437", "CA"),
    _c("Houston", "TX", 5, "770", "713 281 832"),
    _c("San Francisco", "CA", 4.5, "941", "415 628"),
    _c("Seattle", "WA", 4, "981", "206"),
    _c("Phoenix", "AZ", 3.5, "850", "602 480"),
    _c("Philadelphia", "PA", 3.5, "191", "215 267"),
    _c("Dallas", "TX", 3.5, "752", "214 469 972"),
    _c("Boston", "MA", 3.5, "021", "617 857"),
    _c("Austin", "TX", 3, "787", "512 737"),
    _c("Atlanta", "GA", 3, "303", "404 678 470"),
    _c("San Diego", "CA", 3, "921", "619 858"),
    _c("Vancouver", "BC", 3, "V", "604 778", "CA"),
    _c("Denver", "CO", 2.5, "802", "303 720"),
    _c("Miami", "FL", 2.5, "331", "305 786"),
    _c("Montreal", "QC", 2.5, "H", "514 438", "CA"),
    _c("San Antonio", "TX", 2, "782", "210"),
    _c("Portland", "OR", 2, "972", "503 971"),
    _c("Minneapolis", "MN", 1.8, "554", "612"),
    _c("Nashville", "TN", 1.6, "372", "615"),
    _c("Charlotte", "NC", 1.5, "282", "704 980"),
    _c("Columbus", "OH", 1.4, "432", "614"),
    _c("Las Vegas", "NV", 1.4, "891", "702 725"),
    _c("Detroit", "MI", 1.2, "482", "313"),
    _c("Raleigh", "NC", 1.2, "276", "919 984"),
    _c("Salt Lake City", "UT", 1.1, "841", "801 385"),
    _c("Tampa", "FL", 1.1, "336", "813"),
    _c("Orlando", "FL", 1.1, "328", "407 321"),
    _c("Pittsburgh", "PA", 1, "152", "412"),
    _c("Kansas City", "MO", 1, "641", "816"),
    _c("New Orleans", "LA", 0.8, "701", "504"),
    _c("Boise", "ID", 0.6, "837", "208"),
    _c("Burlington", "VT", 0.3, "054", "802"),
)
_CITY_WEIGHTS = tuple(c.weight for c in CITIES)
_CITY_BY_NAME = {c.name: c for c in CITIES}
# What an update changes, with weights; a birthday already had in this run becomes an email change.
_UPDATES = (("move", 30), ("phone", 20), ("email", 25), ("birthday", 15), ("surname", 10))


def email_issue(item: dict[str, Any]) -> str | None:
    """``"missing"`` (no email attribute), ``"invalid"`` (not like `EMAIL_PATTERN`) or None (fine)."""
    email = item.get("email")
    if email is None:
        return "missing"
    return None if _EMAIL_RE.match(email) else "invalid"


def age_band(age: int) -> str:
    """The report's band of an age: ``"18-24"`` ... ``"65+"``; ``"under 18"`` below."""
    band = "under 18"
    for low, label in REPORT_AGE_BANDS:
        if age >= low:
            band = label
    return band


def check_share(param: str, value: Any) -> float:
    """A share in [0, 1], or `GeneratorParamsError` naming `param` (as the driver's shares are checked)."""
    return check_number(param, value, 0, 1)


class ProfileDataset(Dataset):
    """User profiles: the `user_profiles` dataset, keyed by ``id``."""

    name = "user_profiles"
    key = "id"
    noun = "users"
    #: Generate-DAG parameters only this dataset has (Airflow `Param` arguments by name).
    extra_params: ClassVar[dict[str, dict[str, Any]]] = {
        "invalid_email_share": {
            "default": DEFAULT_INVALID_EMAIL_SHARE,
            "type": "number",
            "minimum": 0,
            "maximum": 1,
            "description": "Share of new users whose email is missing or mistyped (0..1).",
        }
    }

    def __init__(self, invalid_email_share: float = DEFAULT_INVALID_EMAIL_SHARE) -> None:
        super().__init__()
        self.invalid_email_share = check_share("invalid_email_share", invalid_email_share)
        self._had_birthday: set[str] = set()

    def reset(self, rng: Any, fake: Any) -> None:
        super().reset(rng, fake)
        self._had_birthday = set()

    def configure(self, invalid_email_share: Any = None) -> None:
        """``invalid_email_share`` for this run (None keeps the dataset's own)."""
        if invalid_email_share is not None:
            self.invalid_email_share = check_share("invalid_email_share", invalid_email_share)

    # -- items --------------------------------------------------------------------------------

    def new_item(self, at: datetime) -> dict[str, Any]:
        """A user who signs up at `at`; the key is a UUID drawn from the run's random source."""
        first, last = self.fake.first_name(), self.fake.last_name()
        city = self.rng.choices(CITIES, _CITY_WEIGHTS)[0]
        low, high, _ = self.rng.choices(_AGE_BANDS, [band[2] for band in _AGE_BANDS])[0]
        stamp = format_utc(at)
        item: dict[str, Any] = {
            "id": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
            "name": f"{first} {last}",
            "phone_number": self._phone(city),
            "created_at": stamp,
            "age": self.rng.randint(low, high),
            "address": self._address(city),
            "updated_at": stamp,
        }
        email = self._email(first, last, typo_share=None)
        if email is not None:
            item["email"] = email
        return item

    def updated_item(self, item: dict[str, Any], at: datetime) -> dict[str, Any]:
        """One realistic change: a move, a phone, an email fix or change, a birthday or a new surname."""
        changed = dict(item)
        kinds, weights = zip(*_UPDATES, strict=True)
        kind = self.rng.choices(kinds, weights)[0]
        if kind == "birthday" and item["id"] in self._had_birthday:
            kind = "email"
        if kind == "move":
            changed["address"] = self._moved(item["address"])
        elif kind == "phone":
            changed["phone_number"] = self._phone(_CITY_BY_NAME[item["address"]["city"]])
        elif kind == "email":
            first, last = _split_name(item["name"])
            if email_issue(item) is None:
                # A new provider; now and then mistyped as it is entered.
                typo_share = self.invalid_email_share * (1 - MISSING_OF_ISSUES)
                changed["email"] = self._email(first, last, typo_share=typo_share)
            else:
                changed["email"] = self._valid_email(first, last)
        elif kind == "birthday":
            changed["age"] = int(item["age"]) + 1
            self._had_birthday.add(item["id"])
        else:
            first, _ = _split_name(item["name"])
            changed["name"] = f"{first} {self.fake.last_name()}"
        changed["updated_at"] = format_utc(at)
        return changed

    def hourly_totals(self, items: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Per ``created_at`` hour (``YYYY-MM-DDTHH:00:00.000Z``, the sign-up hour), over every existing
        user: ``users``, ``missing_emails`` (no email attribute) and ``invalid_emails`` (not like
        `EMAIL_PATTERN`). The hourly report's totals compare with these."""
        totals: dict[str, dict[str, Any]] = {}
        for item in items:
            hour = format_utc(hour_start(datetime.fromisoformat(item["created_at"])))
            bucket = totals.setdefault(hour, {"users": 0, "missing_emails": 0, "invalid_emails": 0})
            bucket["users"] += 1
            issue = email_issue(item)
            if issue is not None:
                bucket[f"{issue}_emails"] += 1
        return dict(sorted(totals.items()))

    # -- parts --------------------------------------------------------------------------------

    def _address(self, city: City) -> dict[str, str]:
        return {
            "street": self.fake.street_address(),
            "city": city.name,
            "state": city.state,
            "postcode": city.draw_postcode(self.rng),
            "country": city.country,
        }

    def _moved(self, address: dict[str, str]) -> dict[str, str]:
        if self.rng.random() < 1 / 3:
            others = [c for c in CITIES if c.name != address["city"]]
            city = self.rng.choices(others, [c.weight for c in others])[0]
        else:
            city = _CITY_BY_NAME[address["city"]]
        return self._address(city)

    def _phone(self, city: City) -> str:
        # North American numbers: exchange and line never start with 0 or 1 (NANP rules).
        exchange = self.rng.randint(200, 999)
        return f"+1-{self.rng.choice(city.area_codes)}-{exchange}-{self.rng.randint(0, 9999):04d}"

    def _email(self, first: str, last: str, *, typo_share: float | None) -> str | None:
        """A sign-up's email (None = none given) or, with `typo_share`, a changed one (never None)."""
        email = self._valid_email(first, last)
        if typo_share is None:
            if self.rng.random() >= self.invalid_email_share:
                return email
            if self.rng.random() < MISSING_OF_ISSUES:
                return None
            return self._typo(email)
        return self._typo(email) if self.rng.random() < typo_share else email

    def _valid_email(self, first: str, last: str) -> str:
        first, last = _ascii_lower(first) or "user", _ascii_lower(last) or "name"
        local = self.rng.choice(
            (
                f"{first}.{last}",
                f"{first}{last}",
                f"{first[0]}{last}",
                f"{first}_{last}",
                f"{first}.{last}{self.rng.randint(1, 99)}",
                f"{first}{self.rng.randint(1960, 2007)}",
            )
        )
        domains, weights = zip(*_EMAIL_DOMAINS, strict=True)
        return f"{local}@{self.rng.choices(domains, weights)[0]}"

    def _typo(self, email: str) -> str:
        local, _, domain = email.partition("@")
        kind = self.rng.choice(TYPO_KINDS)
        if kind == "no_at":
            return f"{local}{domain}"
        if kind == "double_at":
            return f"{local}@@{domain}"
        if kind == "no_tld":
            return f"{local}@{domain.split('.')[0]}"
        if kind == "space":
            cut = self.rng.randint(1, len(local))
            return f"{local[:cut]} {local[cut:]}@{domain}"
        return f"{local}@{domain.replace('.', ',')}"


def _split_name(name: str) -> tuple[str, str]:
    first, _, last = name.partition(" ")
    return first, last


def _ascii_lower(text: str) -> str:
    return re.sub(r"[^a-z]", "", text.lower())
