"""What ORCA returns: its JSON answers as TypedDicts, one per resource, one per envelope.

TypedDicts, not classes: ORCA's JSON is used as it arrives (the pages read its fields, the
``/api/*`` routes pass it through unchanged), so a type that *describes* a dict is all that
is needed, and the type checker then knows every key a page or a script may use. They are
promises to mypy, not checks at run time: :class:`~example_app.orca.OrcaClient` checks the
envelope (a ``data`` list or object); the fields are trusted as ORCA documents them.

The sandbox ORCA (:mod:`example_app.seed`) builds its data with these same types, and
``tests/sandbox/test_sandbox_orca.py`` compares them with the sandbox's answers, so they
cannot drift apart. Conventions, as ORCA has them:

- amounts are strings with two decimals (``"-412.30"``), never floats: parse them with
  ``decimal.Decimal``;
- timestamps are ISO 8601 in UTC (``"2025-06-14T09:12:00Z"``), dates ``"2019-04-01"``;
- enumerations (``type``, ``status``, ``category``) are plain strings: ORCA may add values, so
  code must cope with one it does not know (the pages show them with the ``label`` filter).
"""

# No `from __future__ import annotations` here: Python 3.11 only reads NotRequired[...] in a
# TypedDict's annotations when they are real objects, not strings.

from typing import NotRequired, TypedDict

__all__ = [
    "Account",
    "AccountDetail",
    "AccountList",
    "Address",
    "Card",
    "CardList",
    "Party",
    "PartyDetail",
    "Transaction",
    "TransactionList",
]


class Account(TypedDict):
    """One account (``accounts:read``)."""

    id: str
    #: ``"current"``, ``"savings"``, ``"credit_card"``...
    type: str
    name: str
    #: Masked for display (``"DE89 •••• •••• •••• •• 4821"``); ``None`` for an account without
    #: one (a credit card, a US account).
    iban: str | None
    #: ISO 4217, e.g. ``"EUR"``.
    currency: str
    #: Negative when the customer owes the bank (a credit card's spending).
    balance: str
    #: What can be spent now: the balance plus any overdraft or credit limit.
    available_balance: str
    #: ``"active"``...
    status: str
    #: US accounts, which have no IBAN: the bank's ABA routing number (public, printed on
    #: cheques) and the account number, masked for display (``"•••• 7719"``).
    routing_number: NotRequired[str]
    account_number: NotRequired[str]


class Transaction(TypedDict):
    """One booked transaction of an account (``transactions:read``)."""

    id: str
    account_id: str
    booked_at: str
    description: str
    #: Negative for money going out.
    amount: str
    currency: str
    #: The account's balance once this transaction was booked.
    balance_after: str
    #: ``"groceries"``, ``"income"``, ``"transfer"``...
    category: str


class Card(TypedDict):
    """One payment card (``cards:read``). The full card number never leaves ORCA."""

    id: str
    #: The account the card draws on.
    account_id: str
    #: ``"debit"`` or ``"credit"``.
    type: str
    brand: str
    #: ``"•••• 4242"``: the last four digits only.
    masked_number: str
    holder_name: str
    #: ``"active"``, ``"expired"``...
    status: str
    #: ``"2028-09"``: year and month.
    expiry: str
    #: Credit cards only: the limit, and its currency.
    credit_limit: NotRequired[str]
    currency: NotRequired[str]


class Address(TypedDict):
    line1: str
    postal_code: str
    city: str
    #: ISO 3166-1 alpha-2, e.g. ``"DE"``.
    country: str


class Party(TypedDict):
    """The bank's customer record of the logged-in user (``parties:read``)."""

    id: str
    #: ``"individual"``...
    type: str
    name: str
    given_name: str
    family_name: str
    email: str
    phone: str
    address: Address
    customer_since: str


# The envelopes: ORCA wraps every answer in {"data": ...}, leaving room for paging links and
# other metadata beside it (passed through by /api/* like the rest).


class AccountList(TypedDict):
    """``GET /accounts``."""

    data: list[Account]


class AccountDetail(TypedDict):
    """``GET /accounts/{id}``."""

    data: Account


class TransactionList(TypedDict):
    """``GET /accounts/{id}/transactions``, newest first."""

    data: list[Transaction]


class CardList(TypedDict):
    """``GET /cards``."""

    data: list[Card]


class PartyDetail(TypedDict):
    """``GET /parties/me``."""

    data: Party
