"""Made-up banking data for the sandbox ORCA API, keyed by the access token's ``sub``.

The sandbox provider's two users, ``sandbox-alice`` and ``sandbox-bob``, get hand-written data
so that workshop screenshots and docs stay the same. Any other ``sub`` (a user of another
provider, when only ORCA is sandboxed) gets data generated from a hash of the ``sub``: the same
user sees the same accounts on every run and on every machine, and nothing is real.

Amounts are strings with two decimals, as ORCA sends them, so that no float ever touches money.
The records are built as the types of :mod:`example_app.orca_models`, so that mypy holds the
sandbox to the same fields as the app that reads them. Transactions are listed newest first;
each one's ``balance_after`` is worked out backwards from the account's current balance, so the
running balances always add up.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
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


def data_for(sub: str) -> UserData:
    """The data of the user ``sub``: hand-written for the sandbox users, generated otherwise."""
    fixed = _FIXED.get(sub)
    return fixed if fixed is not None else _generated(sub)


# --- building blocks ---------------------------------------------------------------------------

# One transaction as written by hand: (booked_at, description, amount, category).
_Txn = tuple[str, str, str, str]


def _money(value: Decimal) -> str:
    return str(value.quantize(_CENT))


def _account(
    *,
    id: str,
    type: str,
    name: str,
    iban: str | None,
    currency: str,
    balance: str,
    available: str,
) -> Account:
    return {
        "id": id,
        "type": type,
        "name": name,
        "iban": iban,
        "currency": currency,
        "balance": balance,
        "available_balance": available,
        "status": "active",
    }


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

_ALICE = _user(
    party={
        "id": "pty-1001",
        "type": "individual",
        "name": "Alice Example",
        "given_name": "Alice",
        "family_name": "Example",
        "email": "alice@example.com",
        "phone": "+49 30 5550 1234",
        "address": {
            "line1": "Musterstraße 12",
            "postal_code": "10115",
            "city": "Berlin",
            "country": "DE",
        },
        "customer_since": "2019-04-01",
    },
    accounts=[
        (
            _ALICE_CURRENT,
            [
                ("2025-06-14T09:12:00Z", "Bäckerei Kraus", "-6.40", "groceries"),
                ("2025-06-13T18:45:00Z", "REWE Markt", "-58.23", "groceries"),
                ("2025-06-12T07:30:00Z", "BVG monthly pass", "-86.00", "transport"),
                ("2025-06-10T12:05:00Z", "Transfer to Rainy Day Savings", "-250.00", "transfer"),
                ("2025-06-09T20:14:00Z", "Streamly subscription", "-12.99", "entertainment"),
                ("2025-06-06T13:22:00Z", "Café Lindner", "-9.80", "eating_out"),
                ("2025-06-05T10:00:00Z", "Stadtwerke electricity", "-74.50", "utilities"),
                ("2025-06-03T08:00:00Z", "Rent June", "-1150.00", "housing"),
                ("2025-06-01T06:00:00Z", "Salary Nordwind GmbH", "3420.00", "income"),
                ("2025-05-29T17:40:00Z", "Apotheke am Park", "-18.45", "health"),
                ("2025-05-27T19:03:00Z", "Credit card repayment", "-380.00", "transfer"),
            ],
        ),
        (
            _ALICE_SAVINGS,
            [
                ("2025-06-10T12:05:00Z", "Transfer from Everyday Current", "250.00", "transfer"),
                ("2025-05-31T23:59:00Z", "Interest May", "21.08", "interest"),
                ("2025-05-10T12:05:00Z", "Transfer from Everyday Current", "250.00", "transfer"),
                ("2025-04-30T23:59:00Z", "Interest April", "20.55", "interest"),
                ("2025-04-18T15:30:00Z", "Holiday fund withdrawal", "-600.00", "transfer"),
                ("2025-04-10T12:05:00Z", "Transfer from Everyday Current", "250.00", "transfer"),
                ("2025-03-31T23:59:00Z", "Interest March", "20.91", "interest"),
                ("2025-03-10T12:05:00Z", "Transfer from Everyday Current", "250.00", "transfer"),
            ],
        ),
        (
            _ALICE_CREDIT,
            [
                ("2025-06-12T21:10:00Z", "Lufthansa LH 1234", "-189.90", "travel"),
                ("2025-06-08T14:33:00Z", "Buchhandlung Dussmann", "-34.50", "shopping"),
                ("2025-06-04T11:02:00Z", "Online Marketplace", "-72.15", "shopping"),
                ("2025-06-02T19:45:00Z", "Trattoria Da Nino", "-64.00", "eating_out"),
                ("2025-05-30T09:15:00Z", "Hotel Seeblick", "-221.75", "travel"),
                ("2025-05-27T19:03:00Z", "Repayment, thank you", "380.00", "transfer"),
                ("2025-05-22T16:48:00Z", "Sportshop Berlin", "-129.99", "shopping"),
                ("2025-05-18T12:30:00Z", "Museum Island tickets", "-38.00", "entertainment"),
                ("2025-05-11T20:20:00Z", "Kino International", "-24.00", "entertainment"),
            ],
        ),
    ],
    cards=[
        _card(
            id="crd-1001", account_id="acc-1001", type="debit", last4="4242",
            holder="ALICE EXAMPLE", expiry="2028-09",
        ),
        _card(
            id="crd-1002", account_id="acc-1003", type="credit", last4="5100",
            holder="ALICE EXAMPLE", expiry="2027-03", credit_limit="3000.00", currency="EUR",
        ),
    ],
)  # fmt: skip


# --- bob: USD, a checking account and a savings account -------------------------------------

_BOB_CHECKING = _account(
    id="acc-2001", type="current", name="Checking", iban="US•• •••• •••• 7719",
    currency="USD", balance="1523.64", available="1523.64",
)  # fmt: skip
_BOB_SAVINGS = _account(
    id="acc-2002", type="savings", name="High-Yield Savings", iban="US•• •••• •••• 3380",
    currency="USD", balance="8200.15", available="8200.15",
)  # fmt: skip

_BOB = _user(
    party={
        "id": "pty-2001",
        "type": "individual",
        "name": "Bob Example",
        "given_name": "Bob",
        "family_name": "Example",
        "email": "bob@example.com",
        "phone": "+1 555 0100 4477",
        "address": {
            "line1": "123 Example Avenue",
            "postal_code": "62701",
            "city": "Springfield",
            "country": "US",
        },
        "customer_since": "2021-11-15",
    },
    accounts=[
        (
            _BOB_CHECKING,
            [
                ("2025-06-14T16:20:00Z", "Corner Grocery", "-43.17", "groceries"),
                ("2025-06-13T08:05:00Z", "City Transit", "-2.75", "transport"),
                ("2025-06-12T19:40:00Z", "Pizza Palace", "-27.50", "eating_out"),
                ("2025-06-11T10:00:00Z", "Springfield Power & Light", "-96.32", "utilities"),
                ("2025-06-09T12:00:00Z", "Transfer to High-Yield Savings", "-300.00", "transfer"),
                ("2025-06-07T15:11:00Z", "Hardware Depot", "-64.89", "shopping"),
                ("2025-06-05T09:30:00Z", "Mobile phone bill", "-45.00", "utilities"),
                ("2025-06-01T08:00:00Z", "Rent June", "-1400.00", "housing"),
                ("2025-05-30T06:00:00Z", "Payroll Acme Widgets Inc", "2875.40", "income"),
                ("2025-05-28T18:25:00Z", "Gas station", "-48.10", "transport"),
            ],
        ),
        (
            _BOB_SAVINGS,
            [
                ("2025-06-09T12:00:00Z", "Transfer from Checking", "300.00", "transfer"),
                ("2025-05-31T23:59:00Z", "Interest May", "32.61", "interest"),
                ("2025-05-09T12:00:00Z", "Transfer from Checking", "300.00", "transfer"),
                ("2025-04-30T23:59:00Z", "Interest April", "31.20", "interest"),
                ("2025-04-09T12:00:00Z", "Transfer from Checking", "300.00", "transfer"),
                ("2025-03-31T23:59:00Z", "Interest March", "30.05", "interest"),
                ("2025-03-20T10:15:00Z", "Car repair", "-750.00", "transfer"),
                ("2025-03-09T12:00:00Z", "Transfer from Checking", "300.00", "transfer"),
            ],
        ),
    ],
    cards=[
        _card(
            id="crd-2001", account_id="acc-2001", type="debit", last4="4242",
            holder="BOB EXAMPLE", expiry="2029-01",
        ),
        _card(
            id="crd-2002", account_id="acc-2001", type="debit", last4="0911",
            holder="BOB EXAMPLE", expiry="2025-04", status="expired",
        ),
    ],
)  # fmt: skip

_FIXED: dict[str, UserData] = {"sandbox-alice": _ALICE, "sandbox-bob": _BOB}


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
# Fixed, so that generated data does not change from one day to the next.
_ANCHOR = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)


@lru_cache(maxsize=1024)
def _generated(sub: str) -> UserData:
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
    accounts = [_generated_account(rng, digest, i, kind, currency) for i, kind in enumerate(kinds)]
    holder = f"{given} {family}".upper()
    cards = [
        _card(
            id=f"crd-{digest[:6]}{i}",
            account_id=account["id"],
            type="credit" if account["type"] == "credit_card" else "debit",
            last4=f"{rng.randrange(10000):04d}",
            holder=holder,
            expiry=f"{rng.randrange(2026, 2031)}-{rng.randrange(1, 13):02d}",
        )
        for i, (account, _) in enumerate(accounts)
        if account["type"] != "savings"
    ]
    return _user(party, accounts, cards)


def _generated_account(
    rng: random.Random, digest: str, index: int, kind: str, currency: str
) -> tuple[Account, list[_Txn]]:
    """One generated account of ``kind`` with 8 to 12 transactions, newest first."""
    names = {"current": "Current Account", "savings": "Savings", "credit_card": "Credit Card"}
    if kind == "credit_card":
        balance = -Decimal(rng.randrange(0, 150000)) / 100
        available = Decimal(2000) + balance
        iban = None
    else:
        balance = Decimal(rng.randrange(20000, 2000000)) / 100
        available = balance
        iban = f"XX{rng.randrange(10, 100)} •••• •••• {rng.randrange(10000):04d}"
    account = _account(
        id=f"acc-{digest[:6]}{index}", type=kind, name=names[kind], iban=iban,
        currency=currency, balance=_money(balance), available=_money(available),
    )  # fmt: skip
    when = _ANCHOR
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
