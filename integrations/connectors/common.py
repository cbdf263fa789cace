"""What every real ad-platform connector shares: a connection's token, the HTTP client, hashing."""
from __future__ import annotations

import abc
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal

import httpx

from campaigns.connectors.base import AdPlatformConnector, AudienceMember, ConnectorError
from campaigns.connectors.hashing import normalize_email, normalize_phone, sha256

from ..connection_client import ConnectionClient
from ..models import Connection

MICROS = Decimal(1_000_000)


class OAuthAdConnector(ConnectionClient, AdPlatformConnector):
    """An ad connector acting through one OAuth connection (tokens renewed before expiry and on 401)."""

    def __init__(self, connection: Connection, ad_account=None):
        AdPlatformConnector.__init__(self, ad_account)
        self.bind(connection)

    @abc.abstractmethod
    def parse_error(self, response: httpx.Response) -> ConnectorError | None:
        """The API's own error format -> ConnectorError; None for a success."""


def money_from_micros(value) -> Decimal:
    return (Decimal(str(value or 0)) / MICROS).quantize(Decimal("0.01"))


def micros(amount: Decimal) -> int:
    return int((Decimal(amount) * MICROS).to_integral_value())


def decimal(value) -> Decimal:
    try:
        return Decimal(str(value if value not in (None, "", "-") else 0))
    except Exception:  # noqa: BLE001 - providers send "N/A" and friends for empty metrics
        return Decimal("0")


def integer(value) -> int:
    return int(decimal(value))


def date_windows(start: date, end: date, days: int) -> Iterator[tuple[date, date]]:
    """[start, end] cut into windows of at most `days` days (APIs limit daily-report ranges)."""
    cursor = start
    while cursor <= end:
        stop = min(end, cursor + timedelta(days=days - 1))
        yield cursor, stop
        cursor = stop + timedelta(days=1)


def hashed_identifiers(member: AudienceMember, *, phone_plus: bool) -> tuple[str | None, str | None]:
    """(sha256 of the normalised e-mail, of the phone as E.164 — with or without the plus); a record that carries only
    hashes (an erased person being removed) gives them as they are."""
    email = normalize_email(member.email)
    phone = normalize_phone(member.phone, plus=phone_plus)
    return (sha256(email) if email else member.email_sha256,
            sha256(phone) if phone else (member.phone_sha256 if phone_plus else member.phone_digits_sha256))


def chunks(items: list, size: int) -> Iterator[list]:
    for index in range(0, len(items), size):
        yield items[index:index + size]
