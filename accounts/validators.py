"""Validation of tenant settings and contact fields."""
from __future__ import annotations

import re
import zoneinfo

import phonenumbers

from stratum.api.exceptions import ValidationFailed

# ISO 4217 active currency codes.
ISO_4217 = frozenset("""
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD CAD CDF
CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD
HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD
MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN
PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY
TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG
""".split())

TENANT_SETTING_KEYS = ("timezone", "currency", "week_start", "attribution_window_days")


def is_valid_timezone(name: str) -> bool:
    if not isinstance(name, str) or not name or len(name) > 64:
        return False
    try:
        zoneinfo.ZoneInfo(name)
        return True
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False


def is_valid_currency(code: str) -> bool:
    return isinstance(code, str) and code in ISO_4217


def normalize_phone(raw: str, default_region: str | None = None) -> str:
    """E.164, or ValueError with a message a user understands."""
    try:
        number = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"Not a phone number: {exc}") from exc
    if not phonenumbers.is_possible_number(number) or not phonenumbers.is_valid_number(number):
        raise ValueError("Not a valid phone number (use international format, e.g. +14155550123).")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def clean_phone(phone: str) -> str:
    phone = (phone or "").strip()
    if not phone:
        return ""
    if not re.fullmatch(r"\+?[0-9 ().-]{6,24}", phone):
        raise ValidationFailed(errors={"phone": ["Not a phone number."]})
    try:
        return normalize_phone(phone)
    except ValueError:
        return re.sub(r"[^0-9+]", "", phone)
