"""Hypothesis strategies for hostile input: what a stranger on the internet, a sloppy CRM rule or
a broken producer may send to each entry point."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from xml.sax.saxutils import escape

from hypothesis import strategies as st

from masking_unset.models.json_input import MAX_BYTES
from masking_unset_tools.local.deepcall_standin import Fault

# Sentinel numbers: none of their digit runs may ever leave the functions whole.
NUMBERS = ("9876543210", "9123456780", "8040001234")
FULLWIDTH = {ord("0") + i: 0xFF10 + i for i in range(10)}  # fullwidth digits


def number_forms(national: str) -> list[Any]:
    """Ways people and CRMs write one number, well-formed or not."""
    return [
        national,
        f"+91 {national[:5]} {national[5:]}",
        f"+91-{national}",
        f"(0{national[:3]}) {national[3:6]}-{national[6:]}",
        f"91{national}",
        int(national),
        national.translate(FULLWIDTH),
        national[:-1] + "O",  # a letter O where a zero was meant
        national[:4] + "CALLME",
        "{{ticket.ticket_field_" + national + "}}",
        f"{national} ext. 12",
        f"+1 {national}",
    ]


numbers = st.sampled_from([form for n in NUMBERS for form in number_forms(n)])

# Text that breaks naive code: control characters, lone surrogates, Unicode digits, huge runs.
nasty_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=40),
    st.sampled_from(
        [
            "",
            " ",
            "\x00",
            "\ud800",
            "²",
            "٣",
            "9" * 5000,
            "1" * 400,
            "-1",
            "1e309",
            "NaN",
            "{{ticket.id}}",
            "../../etc/passwd",
            "<script>",
            "null",
            "9999-12-31T23:59:59Z",
            "0001-01-01T00:00:00+00:00",
        ]
    ),
)

# Identifiers (ticket and event ids) are logged as sent, so they carry no sentinel number.
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    nasty_text,
)

json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)


def deep(depth: int, opener: str = "[") -> bytes:
    """A document nested ``depth`` times (unterminated: parsers recurse before they notice)."""
    return (opener * depth).encode()


raw_junk = st.one_of(
    st.binary(max_size=200),
    st.sampled_from(
        [
            b"",
            b"\xff\xfe\x00",
            deep(200_000),
            deep(5_000, '{"a":'),
            b"[" * 1000 + b"]" * 1000,
            b'{"mask": 1e999999}',
            b'{"mask": ' + b"9" * 5000 + b"}",
            b"\xef\xbb\xbf{}",
            b"null",
            b"[]",
            b'"text"',
        ]
    ),
)


def _ahead_of_now(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).isoformat()


# A sender's clock: far ahead (a typo, a broken clock, a hostile sender: past the allowed skew,
# it must be refused and lock nothing), a little ahead, or any value at all.
occurred_ats = st.one_of(
    json_values,
    st.timedeltas(min_value=timedelta(minutes=6), max_value=timedelta(days=2_000_000)).map(
        _ahead_of_now
    ),
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(minutes=4)).map(_ahead_of_now),
    st.sampled_from(["9999-12-31T23:59:59Z", "9999-12-31T23:59:59-14:00", "9999-12-31"]),
)


def _in_offset(delta: timedelta, minutes: int) -> str:
    offset = timezone(timedelta(minutes=minutes))
    return (datetime.now(UTC) + delta).astimezone(offset).isoformat()


# An expiry at a moment: ahead within the year (sent), past (expired now), beyond a year,
# without an offset, a date alone, in any offset, or any value at all.
expire_ats = st.one_of(
    json_values,
    st.builds(
        _in_offset,
        st.timedeltas(min_value=timedelta(days=-3650), max_value=timedelta(days=800)),
        st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1),
    ),
    st.datetimes().map(datetime.isoformat),  # naive: no offset
    st.dates().map(str),
    st.sampled_from(
        [
            "2026-12-07T18:00:00+05:30",
            "2026-12-07T18:00:00",
            "9999-12-31T23:59:59Z",
            "0001-01-01T00:00:00+14:00",
            "2026-12-07T24:00:00Z",
            "+91 98765 43210",
            "",
        ]
    ),
)

TIME_FIELDS = {"occurred_at", "LastModifiedDate"}
EXPIRY_FIELDS = {"expire_at", "Expire_At__c"}
NUMBER_FIELDS = {"mask", "m1", "m2", "ticket_cf_mask", "ticket_cf_m1", "Mask__c", "M1__c", "M2__c"}


def field_dicts(names: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects whose keys are the fields a parser looks for, with hostile values; the number
    fields also get sentinel numbers in every form people write them, the time fields times
    far ahead of the clock."""
    return st.fixed_dictionaries(
        {},
        optional={
            name: st.one_of(numbers, json_values)
            if name in NUMBER_FIELDS
            else occurred_ats
            if name in TIME_FIELDS
            else expire_ats
            if name in EXPIRY_FIELDS
            else json_values
            for name in names
        },
    )


CANONICAL = [
    "event_id",
    "ticket_id",
    "mask",
    "m1",
    "m2",
    "occurred_at",
    "source",
    "account",
    "action",
    "expire_after_minutes",
    "expire_at",
]
generic_bodies = field_dicts(CANONICAL)
zendesk_bodies = st.one_of(
    field_dicts(
        ["event_id", "ticket_id", "status", "mask", "m1", "m2", "occurred_at", "expire_at"]
    ).map(lambda d: {"status": "Solved", **d}),
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(
                ["zen:event-type:ticket.status_changed", "zen:event-type:other", "x"]
            ),
            "id": json_values,
            "time": st.one_of(nasty_text, st.just("2026-11-26T10:00:00Z"), occurred_ats),
            "subject": st.one_of(nasty_text, st.just("zen:ticket:5158")),
            "detail": st.one_of(json_values, field_dicts(["id", "status", "external_id"])),
            "event": st.one_of(
                json_values,
                st.fixed_dictionaries(
                    {
                        "previous": st.one_of(json_values, st.just({"status": "OPEN"})),
                        "current": st.one_of(json_values, st.just({"status": "SOLVED"})),
                    }
                ),
            ),
        }
    ),
)
freshdesk_bodies = field_dicts(
    [
        "ticket_id",
        "ticket_status",
        "ticket_cf_mask",
        "mask",
        "m1",
        "m2",
        "ticket_cf_m1",
        "occurred_at",
        "expire_at",
    ]
).map(lambda d: {"freshdesk_webhook": {"ticket_status": "Resolved", **d}})
hubspot_items = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {
            "subscriptionType": st.sampled_from(
                ["ticket.propertyChange", "object.propertyChange", "ticket.creation"]
            ),
            "propertyName": st.sampled_from(["hs_pipeline_stage", "subject"]),
            "propertyValue": st.one_of(st.just("4"), json_values),
            "objectId": st.one_of(st.integers(min_value=1, max_value=10**12), json_values),
            "occurredAt": st.one_of(
                st.integers(min_value=0, max_value=2**64),
                st.timedeltas(min_value=timedelta(minutes=6), max_value=timedelta(days=3650)).map(
                    lambda delta: int((datetime.now(UTC) + delta).timestamp() * 1000)
                ),
                json_values,
            ),
            "eventId": json_values,
            "portalId": json_values,
        },
        optional={"objectTypeId": st.sampled_from(["0-5", "0-1"])},
    ),
)
hubspot_bodies = st.lists(hubspot_items, max_size=5)


@st.composite
def salesforce_bodies(draw: st.DrawFn) -> bytes:
    """An outbound message with hostile field values, or a hostile XML document."""
    kind = draw(st.sampled_from(["message", "charset", "entity", "junk"]))
    if kind == "junk":
        return draw(raw_junk)
    if kind == "charset":
        encoding = draw(st.sampled_from(["UTF-7", "x-unknown", "UTF-16", "latin-1", "ebcdic"]))
        return f'<?xml version="1.0" encoding="{encoding}"?><a/>'.encode()
    if kind == "entity":
        return (
            b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "xxxxxxxx">'
            b'<!ENTITY y "&x;&x;&x;&x;">]><a>&y;</a>'
        )
    fields = draw(
        field_dicts(
            [
                "Id",
                "Status",
                "IsClosed",
                "Mask__c",
                "M1__c",
                "M2__c",
                "LastModifiedDate",
                "Expire_At__c",
            ]
        )
    )
    sobject = "".join(
        f"<sf:{name}>{escape(_as_xml_text(value))}</sf:{name}>" for name, value in fields.items()
    )
    org = draw(st.sampled_from(["00D000000000DEMOAA", "00D000000000OTHER", ""]))
    count = draw(st.integers(min_value=0, max_value=3))
    notification = (
        f"<Notification><Id>04l{draw(st.integers(0, 10**9))}</Id>"
        f'<sObject xsi:type="sf:Case" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
        f"{sobject}</sObject></Notification>"
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
        '<notifications xmlns="http://soap.sforce.com/2005/09/outbound">'
        f"<OrganizationId>{org}</OrganizationId>{notification * count}"
        "</notifications></soapenv:Body></soapenv:Envelope>"
    ).encode("utf-8", "surrogatepass")


def _as_xml_text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    # XML 1.0 cannot carry most control characters or surrogates at all.
    return "".join(
        ch for ch in text if ch in "\t\n\r" or (ch >= " " and not 0xD800 <= ord(ch) < 0xE000)
    )


def encode_json(document: Any) -> bytes:
    """JSON as a CRM would send it; lone surrogates are kept as escapes."""
    return json.dumps(document).encode()


BODIES: dict[str, st.SearchStrategy[bytes]] = {
    "generic": st.one_of(generic_bodies.map(encode_json), raw_junk),
    "zendesk": st.one_of(zendesk_bodies.map(encode_json), raw_junk),
    "freshdesk": st.one_of(freshdesk_bodies.map(encode_json), raw_junk),
    "hubspot": st.one_of(hubspot_bodies.map(encode_json), raw_junk),
    "salesforce": salesforce_bodies(),
}

header_names = st.sampled_from(
    [
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "x-zendesk-webhook-signature",
        "x-zendesk-webhook-signature-timestamp",
        "x-zendesk-webhook-invocation-id",
        "x-hubspot-signature-v3",
        "x-hubspot-request-timestamp",
        "x-webhook-token",
        "authorization",
        "content-type",
        "host",
    ]
)
hostile_headers = st.dictionaries(header_names, nasty_text, max_size=4)


# -- DeepCall's answer as a byte stream ------------------------------------------------------

# None of these confirms anything: an error to retry, a proxy's page, a body cut off mid-JSON.
_UNCONFIRMING_BODIES = [
    b'{"status":"error","code":1009,"message":"Something went wrong"}',
    b"<html><body><h1>502 Bad Gateway</h1></body></html>",
    b'{"status": "succ',
    b"",
]


@st.composite
def deepcall_byte_streams(draw: st.DrawFn) -> Fault:
    """An answer that confirms nothing, as bytes on the wire: its framing (a length, or
    chunked), its encoding (gzip: a bomb when large), its size (up to past the 1 MiB the JSON
    loader reads, counted decompressed) and its pace (a byte at a time, a few ms apart)."""
    body = draw(st.sampled_from(_UNCONFIRMING_BODIES))
    size = draw(st.sampled_from([0, 4096, MAX_BYTES, MAX_BYTES + 1, 4 * MAX_BYTES]))
    # A drip stays within the attempt here (the regression tests cover one that does not).
    drip = draw(st.sampled_from([0.0, 0.001, 0.005])) if size == 0 else 0.0
    return Fault(
        status=draw(st.sampled_from([200, 502])),
        body=body,
        headers={"Content-Type": "application/json"},
        size=size,
        gzip=draw(st.booleans()),
        chunked=draw(st.booleans()),
        drip=drip,
    )


# -- An operator's settings and stored secrets (issue 19) ------------------------------------

# DEEPCALL_BASE_URL as operators write it, and as they mistype it: a query or fragment that
# would move the unset path, a user part, ports and hosts no request can reach.
_URL_SCHEMES = ["https://", "http://", "HTTPS://", "ftp://", "", "https:/", "https:///"]
_URL_USERS = ["", "", "operator:pa55word@", "@", "user@"]
_URL_HOSTS = [
    "api.example.com",
    "127.0.0.1",
    "[::1]",
    "[::1",
    "[fe80::1%25eth0]",
    "[::1]x",
    "a b",
    "",
    "999.1.1.1",
    "-bad-.example",
    "h\\evil.example",
    "bücher.example",
]
_URL_PORTS = ["", "", ":8443", ":0", ":99999", ":1:2", ":", ":+80", ":٣"]
_URL_TAILS = [
    "",
    "/",
    "/v1",
    "/v1/",
    "#x",
    "/#",
    "?v=2",
    "/?",
    "/a;p",
    "/a/../b",
    "//x",
    "/%zz",
    "/%41",
    "/a b",
    "\t",
]


def _can_be_an_environment_value(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


@st.composite
def base_urls(draw: st.DrawFn) -> str:
    """A ``DEEPCALL_BASE_URL``: composed from parts above, or any text at all."""
    if draw(st.integers(0, 9)) == 0:
        # Any text an environment variable can hold: no NUL, no lone surrogate.
        return draw(nasty_text.filter(_can_be_an_environment_value))
    return (
        "".join(draw(st.sampled_from(parts)) for parts in (_URL_SCHEMES, _URL_USERS, _URL_HOSTS))
        + draw(st.sampled_from(_URL_PORTS))
        + draw(st.sampled_from(_URL_TAILS))
    )


# A secret's content, never to be shown: as a value, as a key (written key-for-value), nested.
SECRET_SENTINEL = "s3cr3t-5e771n9-91x"
_SECRET_DOCUMENTS: list[Any] = [
    {"ssid": SECRET_SENTINEL},
    {SECRET_SENTINEL: "ssid"},
    {"userId": SECRET_SENTINEL, "token": SECRET_SENTINEL},
    {SECRET_SENTINEL: "userId", "token": SECRET_SENTINEL},
    {"ssid": {SECRET_SENTINEL: SECRET_SENTINEL}},
    {"ssid": [SECRET_SENTINEL]},
    {"ssid": ""},
    [SECRET_SENTINEL],
    SECRET_SENTINEL,
    None,
]


@st.composite
def secret_contents(draw: st.DrawFn) -> tuple[str, str | bytes]:
    """What Secrets Manager may hold: ``("string", text)`` or ``("binary", bytes)``: JSON of
    any shape (key-for-value too), UTF-8 or not, or junk."""
    document = draw(st.sampled_from(_SECRET_DOCUMENTS))
    text = json.dumps(document)
    kind = draw(st.sampled_from(["string", "binary"]))
    if kind == "string":
        return kind, draw(st.sampled_from([text, text[:-1], "{" * 10_000, "not json " + text]))
    return kind, draw(
        st.one_of(
            st.sampled_from(
                [
                    text.encode(),
                    text.encode("utf-16"),
                    b"\xff\xfe\x00" + SECRET_SENTINEL.encode(),
                    b"\xef\xbb\xbf" + text.encode(),
                    deep(60_000),  # under Secrets Manager's 64 KiB
                ]
            ),
            st.binary(min_size=1, max_size=64),
        )
    )
