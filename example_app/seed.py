"""Made-up banking data for the sandbox ORCA API, keyed by the access token's ``sub``.

The sandbox provider's two users, ``sandbox-alice`` and ``sandbox-bob``, get hand-written data
so that workshop screenshots and docs stay the same. Any other ``sub`` (a user of another
provider, when only ORCA is sandboxed) gets data generated from a hash of the ``sub``: the same
user sees the same accounts on every run and on every machine, and nothing is real.

Dates are relative to today (UTC): the newest transaction is from yesterday and cards expire
years from now, whatever day the demo runs. Alice banks in Germany (IBANs), Bob in the US (a
routing number and an account number instead).

Amounts are strings with two decimals, as ORCA sends them, so that no float ever touches money.
The records are built as the types of :mod:`example_app.orca_models`, so that mypy holds the
sandbox to the same fields as the app that reads them. Transactions are listed newest first;
each one's ``balance_after`` is worked out backwards from the account's current balance, so the
running balances always add up.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache

from .orca_models import Account, Card, Party, Transaction

__all__ = ["UserData", "data_for"]

_CENT = Decimal("0.01")


@dataclass(frozen=True)
class UserData:
    """Everything ORCA knows about one user."""

    party: Party
    accounts: list[Account]
    transactions: dict[str, list[Transaction]] = field(default_factory=dict)
    cards: list[Card] = field(default_factory=list)

    def account(self, account_id: str) -> Account | None:
        """The user's account with this id, or ``None`` (unknown, or someone else's)."""
        return next((a for a in self.accounts if a["id"] == account_id), None)


def data_for(sub: str, today: date | None = None) -> UserData:
    """The data of the user ``sub``: hand-written for the sandbox users, generated otherwise;
    dated relative to ``today`` (default: today in UTC)."""
    today = today or datetime.now(UTC).date()
    fixed = _FIXED.get(sub)
    return fixed(today) if fixed is not None else _generated(sub, today)


# --- building blocks ---------------------------------------------------------------------------

# One transaction: (booked_at, description, amount, category).
_Txn = tuple[str, str, str, str]
# One transaction as written by hand: (days before today, time of day in UTC, description,
# amount, category). A description may name the month it was booked in: "Rent {month}".
_Row = tuple[int, str, str, str, str]

#: A routing number that is no bank's: ABA routing numbers starting with 5 are unassigned.
_ROUTING_NUMBER = "555000128"


def _money(value: Decimal) -> str:
    return str(value.quantize(_CENT))


def _dated(today: date, rows: list[_Row]) -> list[_Txn]:
    """Hand-written rows, dated so many days before ``today``."""
    txns: list[_Txn] = []
    for days_ago, clock, description, amount, category in rows:
        when = today - timedelta(days=days_ago)
        text = description.format(month=f"{when:%B}")
        txns.append((f"{when.isoformat()}T{clock}:00Z", text, amount, category))
    return txns


def _expiry(today: date, years: int, month: int) -> str:
    """A card's expiry, ``"2028-09"``: ``years`` from this year."""
    return f"{today.year + years}-{month:02d}"


def _account(
    *,
    id: str,
    type: str,
    name: str,
    iban: str | None,
    currency: str,
    balance: str,
    available: str,
    us_last4: str | None = None,
) -> Account:
    """One account; ``us_last4``: a US account, which has a routing number and an account
    number (shown masked, ending in these digits) instead of an IBAN."""
    account: Account = {
        "id": id,
        "type": type,
        "name": name,
        "iban": iban,
        "currency": currency,
        "balance": balance,
        "available_balance": available,
        "status": "active",
    }
    if us_last4 is not None:
        account["routing_number"] = _ROUTING_NUMBER
        account["account_number"] = f"•••• {us_last4}"
    return account


def _ledger(account: Account, txns: list[_Txn]) -> list[Transaction]:
    """Turn hand-written rows (newest first) into transactions with running balances."""
    balance = Decimal(account["balance"])
    out: list[Transaction] = []
    for n, (booked_at, description, amount, category) in enumerate(txns, start=1):
        out.append(
            {
                "id": f"txn-{account['id'].removeprefix('acc-')}-{n:03d}",
                "account_id": account["id"],
                "booked_at": booked_at,
                "description": description,
                "amount": amount,
                "currency": account["currency"],
                "balance_after": _money(balance),
                "category": category,
            }
        )
        balance -= Decimal(amount)  # the balance before this transaction
    return out


def _user(party: Party, accounts: list[tuple[Account, list[_Txn]]], cards: list[Card]) -> UserData:
    return UserData(
        party=party,
        accounts=[a for a, _ in accounts],
        transactions={a["id"]: _ledger(a, txns) for a, txns in accounts},
        cards=cards,
    )


def _card(
    *,
    id: str,
    account_id: str,
    type: str,
    last4: str,
    holder: str,
    expiry: str,
    status: str = "active",
    credit_limit: str | None = None,
    currency: str | None = None,
) -> Card:
    card: Card = {
        "id": id,
        "account_id": account_id,
        "type": type,
        "brand": "Visa" if type == "debit" else "Mastercard",
        "masked_number": f"•••• {last4}",
        "holder_name": holder,
        "status": status,
        "expiry": expiry,
    }
    if credit_limit is not None and currency is not None:  # credit cards only
        card["credit_limit"] = credit_limit
        card["currency"] = currency
    return card


# --- alice: EUR, a current account, a savings account and a credit card ------------------------

_ALICE_CURRENT = _account(
    id="acc-1001", type="current", name="Everyday Current", iban="DE89 •••• •••• •••• •• 4821",
    currency="EUR", balance="2841.37", available="3341.37",
)  # fmt: skip
_ALICE_SAVINGS = _account(
    id="acc-1002", type="savings", name="Rainy Day Savings", iban="DE44 •••• •••• •••• •• 9307",
    currency="EUR", balance="12650.00", available="12650.00",
)  # fmt: skip
_ALICE_CREDIT = _account(
    id="acc-1003", type="credit_card", name="Gold Credit Card", iban=None,
    currency="EUR", balance="-412.30", available="2587.70",
)  # fmt: skip


@lru_cache(maxsize=2)
def _alice(today: date) -> UserData:
    return _user(
        party={
            "id": "pty-1001", "type": "individual", "name": "Alice Example",
            "given_name": "Alice", "family_name": "Example", "email": "alice@example.com",
            "phone": "+49 30 5550 1234", "customer_since": "2019-04-01",
            "address": {
                "line1": "Musterstraße 12", "postal_code": "10115", "city": "Berlin",
                "country": "DE",
            },
        },
        accounts=[
            (_ALICE_CURRENT, _dated(today, [
                (1, "09:12", "Bäckerei Kraus", "-6.40", "groceries"),
                (2, "18:45", "REWE Markt", "-58.23", "groceries"),
                (3, "07:30", "BVG monthly pass", "-86.00", "transport"),
                (5, "12:05", "Transfer to Rainy Day Savings", "-250.00", "transfer"),
                (6, "20:14", "Streamly subscription", "-12.99", "entertainment"),
                (9, "13:22", "Café Lindner", "-9.80", "eating_out"),
                (10, "10:00", "Stadtwerke electricity", "-74.50", "utilities"),
                (12, "08:00", "Rent {month}", "-1150.00", "housing"),
                (14, "06:00", "Salary Nordwind GmbH", "3420.00", "income"),
                (17, "17:40", "Apotheke am Park", "-18.45", "health"),
                (19, "19:03", "Credit card repayment", "-380.00", "transfer"),
            ])),
            (_ALICE_SAVINGS, _dated(today, [
                (5, "12:05", "Transfer from Everyday Current", "250.00", "transfer"),
                (15, "23:59", "Monthly interest", "21.08", "interest"),
                (36, "12:05", "Transfer from Everyday Current", "250.00", "transfer"),
                (46, "23:59", "Monthly interest", "20.55", "interest"),
                (58, "15:30", "Holiday fund withdrawal", "-600.00", "transfer"),
                (66, "12:05", "Transfer from Everyday Current", "250.00", "transfer"),
                (76, "23:59", "Monthly interest", "20.91", "interest"),
                (97, "12:05", "Transfer from Everyday Current", "250.00", "transfer"),
            ])),
            (_ALICE_CREDIT, _dated(today, [
                (3, "21:10", "Lufthansa LH 1234", "-189.90", "travel"),
                (7, "14:33", "Buchhandlung Dussmann", "-34.50", "shopping"),
                (11, "11:02", "Online Marketplace", "-72.15", "shopping"),
                (13, "19:45", "Trattoria Da Nino", "-64.00", "eating_out"),
                (16, "09:15", "Hotel Seeblick", "-221.75", "travel"),
                (19, "19:03", "Repayment, thank you", "380.00", "transfer"),
                (24, "16:48", "Sportshop Berlin", "-129.99", "shopping"),
                (28, "12:30", "Museum Island tickets", "-38.00", "entertainment"),
                (35, "20:20", "Kino International", "-24.00", "entertainment"),
            ])),
        ],
        cards=[
            _card(
                id="crd-1001", account_id="acc-1001", type="debit", last4="4242",
                holder="ALICE EXAMPLE", expiry=_expiry(today, 3, 9),
            ),
            _card(
                id="crd-1002", account_id="acc-1003", type="credit", last4="5100",
                holder="ALICE EXAMPLE", expiry=_expiry(today, 2, 3), credit_limit="3000.00",
                currency="EUR",
            ),
        ],
    )  # fmt: skip


# --- bob: USD, a checking account and a savings account -------------------------------------

_BOB_CHECKING = _account(
    id="acc-2001", type="current", name="Checking", iban=None, us_last4="7719",
    currency="USD", balance="1523.64", available="1523.64",
)  # fmt: skip
_BOB_SAVINGS = _account(
    id="acc-2002", type="savings", name="High-Yield Savings", iban=None, us_last4="3380",
    currency="USD", balance="8200.15", available="8200.15",
)  # fmt: skip


@lru_cache(maxsize=2)
def _bob(today: date) -> UserData:
    return _user(
        party={
            "id": "pty-2001", "type": "individual", "name": "Bob Example",
            "given_name": "Bob", "family_name": "Example", "email": "bob@example.com",
            "phone": "+1 555 0100 4477", "customer_since": "2021-11-15",
            "address": {
                "line1": "123 Example Avenue", "postal_code": "62701", "city": "Springfield",
                "country": "US",
            },
        },
        accounts=[
            (_BOB_CHECKING, _dated(today, [
                (1, "16:20", "Corner Grocery", "-43.17", "groceries"),
                (2, "08:05", "City Transit", "-2.75", "transport"),
                (3, "19:40", "Pizza Palace", "-27.50", "eating_out"),
                (4, "10:00", "Springfield Power & Light", "-96.32", "utilities"),
                (6, "12:00", "Transfer to High-Yield Savings", "-300.00", "transfer"),
                (8, "15:11", "Hardware Depot", "-64.89", "shopping"),
                (10, "09:30", "Mobile phone bill", "-45.00", "utilities"),
                (14, "08:00", "Rent {month}", "-1400.00", "housing"),
                (16, "06:00", "Payroll Acme Widgets Inc", "2875.40", "income"),
                (18, "18:25", "Gas station", "-48.10", "transport"),
            ])),
            (_BOB_SAVINGS, _dated(today, [
                (6, "12:00", "Transfer from Checking", "300.00", "transfer"),
                (15, "23:59", "Monthly interest", "32.61", "interest"),
                (37, "12:00", "Transfer from Checking", "300.00", "transfer"),
                (46, "23:59", "Monthly interest", "31.20", "interest"),
                (67, "12:00", "Transfer from Checking", "300.00", "transfer"),
                (76, "23:59", "Monthly interest", "30.05", "interest"),
                (87, "10:15", "Car repair", "-750.00", "transfer"),
                (98, "12:00", "Transfer from Checking", "300.00", "transfer"),
            ])),
        ],
        cards=[
            _card(
                id="crd-2001", account_id="acc-2001", type="debit", last4="4242",
                holder="BOB EXAMPLE", expiry=_expiry(today, 4, 1),
            ),
            _card(
                id="crd-2002", account_id="acc-2001", type="debit", last4="0911",
                holder="BOB EXAMPLE", expiry=_expiry(today, -1, 4), status="expired",
            ),
        ],
    )  # fmt: skip


_FIXED: dict[str, Callable[[date], UserData]] = {"sandbox-alice": _alice, "sandbox-bob": _bob}


# --- generated data for any other user ---------------------------------------------------------

_GIVEN = ("Sam", "Noor", "Jo", "Mika", "Ravi", "Lena", "Tomas", "Aiko", "Femi", "Ines")
_FAMILY = ("Example", "Sample", "Placeholder", "Demo", "Testwell", "Mockford", "Fictus")
_STREETS = ("Sample Street", "Example Road", "Placeholder Lane", "Demo Square")
_CITIES = (("Exampleton", "NL"), ("Sampleburg", "DE"), ("Demoville", "US"), ("Mockport", "IE"))
# (description, category, low, high) — amounts are drawn between low and high, as spending.
_SPENDING = (
    ("Supermarket", "groceries", 8, 120),
    ("Coffee shop", "eating_out", 3, 12),
    ("Restaurant", "eating_out", 18, 90),
    ("Public transport", "transport", 2, 60),
    ("Online shop", "shopping", 10, 200),
    ("Pharmacy", "health", 5, 40),
    ("Streaming service", "entertainment", 8, 18),
    ("Energy bill", "utilities", 40, 140),
)


@lru_cache(maxsize=1024)
def _generated(sub: str, today: date) -> UserData:
    """Deterministic, obviously fictional data for the user ``sub``."""
    digest = hashlib.sha256(sub.encode()).hexdigest()
    # Not for security: a seeded generator is exactly what makes the data repeatable.
    rng = random.Random(int(digest[:16], 16))  # noqa: S311
    currency = rng.choice(("EUR", "USD"))
    given, family = rng.choice(_GIVEN), rng.choice(_FAMILY)
    city, country = rng.choice(_CITIES)
    party: Party = {
        "id": f"pty-{digest[:8]}",
        "type": "individual",
        "name": f"{given} {family}",
        "given_name": given,
        "family_name": family,
        "email": f"{given.lower()}.{family.lower()}@example.com",
        "phone": f"+1 555 01{rng.randrange(10, 100)} {rng.randrange(1000, 10000)}",
        "address": {
            "line1": f"{rng.randrange(1, 200)} {rng.choice(_STREETS)}",
            "postal_code": f"{rng.randrange(10000, 99999)}",
            "city": city,
            "country": country,
        },
        "customer_since": f"{rng.randrange(2012, 2025)}-{rng.randrange(1, 13):02d}-01",
    }
    kinds = ["current", "savings", "credit_card"][: rng.randrange(1, 4)]
    accounts = [
        _generated_account(rng, digest, i, kind, currency, today) for i, kind in enumerate(kinds)
    ]
    holder = f"{given} {family}".upper()
    cards = [
        _card(
            id=f"crd-{digest[:6]}{i}",
            account_id=account["id"],
            type="credit" if account["type"] == "credit_card" else "debit",
            last4=f"{rng.randrange(10000):04d}",
            holder=holder,
            expiry=_expiry(today, rng.randrange(1, 6), rng.randrange(1, 13)),
        )
        for i, (account, _) in enumerate(accounts)
        if account["type"] != "savings"
    ]
    return _user(party, accounts, cards)


def _generated_account(
    rng: random.Random, digest: str, index: int, kind: str, currency: str, today: date
) -> tuple[Account, list[_Txn]]:
    """One generated account of ``kind`` with 8 to 12 transactions, newest first, the newest
    from before ``today``; a USD account has a US account number, others an IBAN."""
    names = {"current": "Current Account", "savings": "Savings", "credit_card": "Credit Card"}
    if kind == "credit_card":
        balance = -Decimal(rng.randrange(0, 150000)) / 100
        available = Decimal(2000) + balance
        iban = us_last4 = None
    else:
        balance = Decimal(rng.randrange(20000, 2000000)) / 100
        available = balance
        check, last4 = rng.randrange(10, 100), f"{rng.randrange(10000):04d}"
        iban = None if currency == "USD" else f"XX{check} •••• •••• {last4}"
        us_last4 = last4 if currency == "USD" else None
    account = _account(
        id=f"acc-{digest[:6]}{index}", type=kind, name=names[kind], iban=iban,
        currency=currency, balance=_money(balance), available=_money(available),
        us_last4=us_last4,
    )  # fmt: skip
    when = datetime.combine(today, datetime.min.time(), UTC)  # midnight: all in the past
    txns: list[_Txn] = []
    count = rng.randrange(8, 13)
    payday = rng.randrange(count)  # a current account gets one salary among its transactions
    for i in range(count):
        when -= timedelta(minutes=rng.randrange(90, 4 * 24 * 60))
        if kind == "current" and i == payday:
            row = ("Salary Example Employer Ltd", "income", 1800, 4200)
            amount = Decimal(rng.randrange(row[2] * 100, row[3] * 100)) / 100
        elif kind == "savings":
            row = ("Transfer from Current Account", "transfer", 50, 500)
            amount = Decimal(rng.randrange(row[2] * 100, row[3] * 100)) / 100
        else:
            row = rng.choice(_SPENDING)
            amount = -Decimal(rng.randrange(row[2] * 100, row[3] * 100)) / 100
        stamp = when.strftime("%Y-%m-%dT%H:%M:00Z")
        txns.append((stamp, str(row[0]), _money(amount), str(row[1])))
    return account, txns
