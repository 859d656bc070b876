"""Property-based fuzzing of the gateway: the WeChat inbound path and the web chat and console APIs.

``python -m bench.fuzz [--cases N] [--http-cases M]`` writes the section ``## Fuzzing (make bench-fuzz)``
of BENCHMARKS.md. Two kinds of surface:

* WeChat (≥ 100,000 cases): hypothesis over ``gateway.wechat.inbound.verify_and_parse`` (the pure
  function the ``/wechat`` route calls before anything is stored). Junk (unsigned, signed,
  encrypted, mutated) either raises ``Rejected`` with a 4xx status or parses into a message; no
  other exception ever escapes (that would be a 500 and a crash report); a well-formed signed
  message carrying arbitrary text parses to exactly that text, plain and encrypted alike.
* Web chat and RM console over HTTP (issue #19): the real gateway (``create_app`` on a seeded
  SQLite demo bank, a fake Rasa) takes hostile requests from ``bench.fuzz_http`` for every route
  of the surface, byte for byte over a socket: generated paths, query strings, cookies (valid,
  absent, junk), CSRF tokens, headers and bodies. A violation is a 5xx other than ``/readyz``'s
  designed 503, no answer, or an unhandled exception in the server's log; after the run a customer
  must still be able to chat and the RM to load the console.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from bench import fuzz_http
from bench.report import write_section
from gateway.wechat.crypto import MessageCrypto, make_signature
from gateway.wechat.inbound import Rejected, verify_and_parse
from gateway.wechat.messages import TextMessage, render_xml
from gateway.wechat.settings import WeChatSettings

ORIGINAL_ID = "gh_bankcare_fuzz"
SETTINGS = WeChatSettings(
    token="fuzz-token",
    app_id="wxbankcarefuzz01",
    encoding_aes_key="abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
    original_id=ORIGINAL_ID,
    mode="compatible",  # both parse paths, plaintext and AES (safe mode refuses plaintext with a 403)
)
CRYPTO = MessageCrypto(SETTINGS.encoding_aes_key, SETTINGS.app_id)
NOW = 1_780_000_000
HTTP_CASES = 2_000  # hostile requests per HTTP surface (each a real request through the gateway)
QUERY_KEYS = ["timestamp", "nonce", "signature", "msg_signature", "encrypt_type", "echostr", "openid"]

# Fragments that get the fuzzer past the XML tokenizer often, including the hostile constructs.
XML_BITS = [
    "<xml>", "</xml>", "<ToUserName>", "</ToUserName>", "<FromUserName>", "</FromUserName>", "<CreateTime>",
    "</CreateTime>", "<MsgType>", "</MsgType>", "<Content>", "</Content>", "<MsgId>", "</MsgId>", "<Event>",
    "</Event>", "<Encrypt>", "</Encrypt>", "<![CDATA[", "]]>", "text", "event", "subscribe", "location",
    ORIGINAL_ID, "oUser", "123", "-1", "1e309", "NaN", "\x00", "é", "余额", "😀", "&amp;", "&e;", "&#0;",
    "<!DOCTYPE xml [<!ENTITY e 'x'>]>", '<!DOCTYPE xml [<!ENTITY e SYSTEM "file:///etc/passwd">]>',
    '<!ENTITY a "&b;&b;&b;&b;">', "<?xml version='1.0' encoding='utf-16'?>",
    "<?xml version='1.0' encoding='nope'?>",
    "<Location_X>", "</Location_X>", "<Location_Y>", "</Location_Y>", "<a><b/></a>", "<!-- c -->", "<?pi x?>",
]  # fmt: skip
xml_like = st.lists(st.sampled_from(XML_BITS), max_size=40).map("".join)
bodies = st.one_of(st.binary(max_size=800), xml_like.map(str.encode), st.text(max_size=300).map(str.encode))
# Characters XML 1.0 can carry (what WeChat can send); surrogates and most controls cannot be in XML.
xml_chars = st.characters(
    blacklist_categories=["Cs"], blacklist_characters="\x00\ufffe\uffff", min_codepoint=0x09
).filter(lambda c: c in "\t\n\r" or ord(c) >= 0x20)
contents = st.text(xml_chars, min_size=1, max_size=400)


def signed_query(nonce: str, ts: int = NOW) -> dict[str, str]:
    return {"timestamp": str(ts), "nonce": nonce, "signature": make_signature(SETTINGS.token, str(ts), nonce)}


def text_xml(content: str, msg_id: int, openid: str = "oFuzzUser") -> str:
    return render_xml(
        {
            "ToUserName": ORIGINAL_ID,
            "FromUserName": openid,
            "CreateTime": NOW,
            "MsgType": "text",
            "Content": content,
            "MsgId": msg_id,
        }
    )


def encrypted(query: dict[str, str], plain: bytes | str) -> tuple[dict[str, str], bytes]:
    enc = CRYPTO.encrypt(plain)
    q = {
        **query,
        "encrypt_type": "aes",
        "msg_signature": make_signature(SETTINGS.token, query["timestamp"], query["nonce"], enc),
    }
    return q, render_xml({"ToUserName": ORIGINAL_ID, "Encrypt": enc}).encode()


# Distinct violations found in this process: kind -> [count, first example]. Recorded instead of
# raised so one finding does not stop the run short of its case count.
FINDINGS: dict[str, list[object]] = {}


def finding(kind: str, example: object) -> None:
    kind = kind[:160]
    entry = FINDINGS.setdefault(kind, [0, repr(example)[:200]])
    entry[0] = int(entry[0]) + 1  # type: ignore[call-overload]


def check(query: dict[str, str], body: bytes, shown: object = None) -> TextMessage | None:
    """The route's contract: Rejected (4xx) or a parsed message; anything else is a bug (a 500)."""
    try:
        verified = verify_and_parse(SETTINGS, CRYPTO, query, body, now=NOW)
    except Rejected as exc:
        if not 400 <= exc.status < 500:
            finding(f"Rejected with status {exc.status}", body if shown is None else shown)
        return None
    except Exception as exc:  # noqa: BLE001 - exactly what the fuzzer is looking for
        # One row per kind of failure, not per value in its message.
        detail = f"{type(exc).__name__}: " + re.sub(r":.*|\d+", "", str(exc)[:60])
        finding(f"{detail} escapes verify_and_parse (HTTP 500)", body if shown is None else shown)
        return None
    msg = verified.message
    assert msg.to_user == ORIGINAL_ID and msg.from_user
    return msg if isinstance(msg, TextMessage) else None


# Seconds a property spent preparing (seeding a database, starting a gateway): not fuzzing time.
SETUP_S = [0.0]


@dataclass
class Property:
    name: str
    run: Callable[[], None]
    weight: float
    surface: str = "WeChat parsing"
    cases: int = 0
    seconds: float = 0.0
    failure: str = ""
    counter: list[int] = field(default_factory=lambda: [0])
    findings: dict[str, list[object]] = field(default_factory=dict)


# The HTTP surfaces: which routes of the gateway belong to each (the rest: WeChat, health, metrics).
SURFACES = {
    "web chat API": lambda route: route in ("/", "/ws") or route.startswith(("/api/", "/static")),
    "RM console API": lambda route: route.startswith("/console"),
}


def http_property(surface: str, cases: int) -> Property:
    """``cases`` hostile requests to the routes of one surface of a running gateway."""
    counter = [0]

    def run() -> None:
        started = time.perf_counter()
        with fuzz_http.temporary_database() as url, fuzz_http.running_gateway(url) as (runner, gw):
            routes = [r for r in gw.routes if SURFACES[surface](r[1])]
            SETUP_S[0] = time.perf_counter() - started

            def send(req: fuzz_http.Request) -> None:
                counter[0] += 1
                errors.records.clear()
                try:
                    status, _body = runner.run(gw.send(req))
                except (TimeoutError, OSError) as exc:
                    status = 0
                    finding(f"{type(exc).__name__} on {req.method} {req.route}", req)
                if fuzz_http.is_violation(req.route, status):
                    finding(f"HTTP {status} on {req.method} {req.route}", req)
                for record in errors.records:
                    finding(f"server logged {re.sub(r'[0-9]+', 'N', record[:120])}", req)

            with fuzz_http.ServerErrors().attached() as errors:
                given(req=fuzz_http.requests(routes, gw.sessions))(
                    settings(  # type: ignore[arg-type]
                        max_examples=cases,
                        deadline=None,
                        database=None,
                        phases=[Phase.generate],
                        suppress_health_check=list(HealthCheck),
                    )(send)
                )()
                runner.run(asyncio.sleep(0.3))  # upgraded sockets notice their close
                broken = runner.run(gw.still_works())
                if broken:
                    finding(f"normal use broken afterwards: {broken[:80]}", "")

    return Property("hostile HTTP requests to every route", run, 0.0, surface, counter=counter)


def build(total: int, http_cases: int = 0) -> list[Property]:
    """The properties, each given its share of ``total`` examples; ``http_cases`` per HTTP surface."""
    props: list[Property] = [http_property(surface, http_cases) for surface in SURFACES] if http_cases else []

    def add(name: str, weight: float, test: Callable[..., None], strategy_kwargs: dict[str, object]) -> None:
        counter = [0]

        def counted(**kw: object) -> None:
            counter[0] += 1
            test(**kw)

        def run() -> None:
            n = max(1, int(total * weight))
            given(**strategy_kwargs)(
                settings(  # type: ignore[arg-type]
                    max_examples=n,
                    deadline=None,
                    database=None,
                    phases=[Phase.generate],
                    suppress_health_check=list(HealthCheck),
                )(counted)
            )()

        props.append(Property(name, run, weight, counter=counter))

    def unsigned(body: bytes, query: dict[str, str]) -> None:
        check(query, body)

    def signed_plain(body: bytes, nonce: str) -> None:
        check(signed_query(nonce), body)

    def signed_encrypted_junk(plain: bytes, nonce: str) -> None:
        q, body = encrypted(signed_query(nonce), plain)
        check(q, body, shown=plain)

    def mutated_ciphertext(content: str, pos: int, byte: int, nonce: str) -> None:
        # A valid ciphertext with one base64 character changed, re-signed (an attacker who knows the token).
        q, body = encrypted(signed_query(nonce), text_xml(content, 1))
        enc = CRYPTO.encrypt(text_xml(content, 1))
        i = pos % len(enc)
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
        bad = enc[:i] + alphabet[byte % len(alphabet)] + enc[i + 1 :]
        q = {**q, "msg_signature": make_signature(SETTINGS.token, q["timestamp"], q["nonce"], bad)}
        check(q, render_xml({"ToUserName": ORIGINAL_ID, "Encrypt": bad}).encode())

    def round_trip(content: str, msg_id: int, nonce: str, safe: bool) -> None:
        q = signed_query(nonce)
        xml = text_xml(content, msg_id)
        query, body = encrypted(q, xml) if safe else (q, xml.encode())
        msg = check(query, body)
        if len(content) > 8192:  # the parser's field limit: a 4xx is the right answer
            return
        # XML normalises line ends (\r\n and \r become \n) before any application sees the text.
        expected = content.replace("\r\n", "\n").replace("\r", "\n").strip()
        if msg is None:
            finding("a valid signed text message was rejected", content)
        elif msg.content != expected or msg.msg_id != str(msg_id):
            finding("text did not round-trip", (content, msg.content))

    def skewed(ts: int, nonce: str) -> None:
        q = signed_query(nonce, ts)
        try:
            verify_and_parse(SETTINGS, CRYPTO, q, text_xml("你好", 7).encode(), now=NOW)
        except Rejected as exc:
            if abs(ts - NOW) <= SETTINGS.max_clock_skew_s or exc.status != 403:
                finding("fresh timestamp refused or stale one not 403", ts)
        else:
            if abs(ts - NOW) > SETTINGS.max_clock_skew_s:
                finding("replayed (stale) timestamp accepted", ts)

    nonces = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=64)
    add(
        "unsigned junk, random query",
        0.25,
        unsigned,
        {"body": bodies, "query": st.dictionaries(st.sampled_from(QUERY_KEYS), st.text(max_size=60))},
    )
    add("signed plaintext, junk XML", 0.25, signed_plain, {"body": bodies, "nonce": nonces})
    add("signed safe mode, encrypted junk", 0.15, signed_encrypted_junk, {"plain": bodies, "nonce": nonces})
    add(
        "signed safe mode, one ciphertext char changed",
        0.1,
        mutated_ciphertext,
        {"content": contents, "pos": st.integers(0, 10_000), "byte": st.integers(0, 255), "nonce": nonces},
    )
    add(
        "valid text, arbitrary content round-trips",
        0.2,
        round_trip,
        {"content": contents, "msg_id": st.integers(1, 2**63 - 1), "nonce": nonces, "safe": st.booleans()},
    )
    add(
        "timestamp skew (replay window)",
        0.05,
        skewed,
        {"ts": st.integers(NOW - 10_000, NOW + 10_000), "nonce": nonces},
    )
    return props


def _summary(tb: str) -> str:
    """The assertion or exception line plus hypothesis's falsifying example, for the table."""
    lines = [ln.strip() for ln in tb.splitlines() if ln.strip()]
    error = next((ln for ln in reversed(lines) if "Error" in ln or "Exception" in ln), lines[-1])
    example = " ".join(ln for ln in lines if ln.startswith(("Falsifying", "body=", "content=", "plain=")))
    return f"{error} {example}"[:400]


def _run_one(total: int, http_cases: int, index: int) -> tuple[int, float, str, dict[str, list[object]]]:
    """Run property ``index`` in this (worker) process; return cases, fuzzing seconds, error, findings."""
    FINDINGS.clear()
    SETUP_S[0] = 0.0
    prop = build(total, http_cases)[index]
    started = time.perf_counter()
    error = ""
    try:
        prop.run()
    except Exception:  # noqa: BLE001 - a crash of the harness itself is reported, not hidden
        error = _summary(traceback.format_exc())
    return prop.counter[0], time.perf_counter() - started - SETUP_S[0], error, dict(FINDINGS)


def run(total: int, http_cases: int, jobs: int) -> tuple[list[Property], int]:
    props = build(total, http_cases)
    with ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [pool.submit(_run_one, total, http_cases, i) for i in range(len(props))]
        for prop, future in zip(props, futures, strict=True):
            prop.cases, prop.seconds, error, prop.findings = future.result()
            prop.failure = error or "; ".join(f"{k} ×{v[0]}, e.g. {v[1]}" for k, v in prop.findings.items())
            print(
                f"{prop.surface} / {prop.name}: {prop.cases} cases in {prop.seconds:.1f} s {prop.failure or 'ok'}",
                flush=True,
            )
    return props, sum(p.cases for p in props)


def _violations(p: Property) -> int:
    return sum(int(v[0]) for v in p.findings.values())  # type: ignore[call-overload]


def render(props: list[Property], total: int, wall_s: float, command: str, load_1m: float = 0.0) -> str:
    rows = [
        "| surface | property | cases | seconds | cases/s | violations | result |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    found: list[str] = []
    for p in props:
        rate = p.cases / p.seconds if p.seconds else 0.0
        n = _violations(p)
        result = "harness error: " + p.failure if p.failure and not p.findings else ("**violations**" if n else "ok")
        rows.append(f"| {p.surface} | {p.name} | {p.cases:,} | {p.seconds:.1f} | {rate:,.0f} | {n:,} | {result} |")
        for kind, (count, example) in p.findings.items():
            shown = str(example).replace("`", "'")[:300]
            found.append(f"- {p.surface} / {p.name}: `{kind}` ×{count}, e.g. `{shown}`")
    surfaces: dict[str, list[Property]] = {}
    for p in props:
        surfaces.setdefault(p.surface, []).append(p)
    summary = ["| surface | cases | cases/s | violations (5xx, crashes) |", "|---|---:|---:|---:|"]
    for surface, members in surfaces.items():
        cases, seconds = sum(p.cases for p in members), sum(p.seconds for p in members)
        violations = sum(_violations(p) for p in members)
        summary.append(f"| {surface} | {cases:,} | {cases / seconds if seconds else 0:,.0f} | {violations:,} |")
    return "\n".join(
        [
            f"Command: `{command}`",
            "",
            "**WeChat parsing.** Hypothesis drives `gateway.wechat.inbound.verify_and_parse` (what `POST /wechat` "
            "runs before anything is stored). Invariant: every input ends in `Rejected` with a 4xx status or a "
            "parsed message, never another exception (that would be an HTTP 500); a valid signed text message "
            "(plain or AES) carrying arbitrary Unicode parses to exactly its content (XML turns `\\r` into "
            "`\\n`); a timestamp more than 300 s off is refused with 403.",
            "",
            "**Web chat and RM console APIs.** The real gateway (`create_app`, SQLite demo bank, a fake Rasa "
            "answering at once) gets hostile requests (`bench/fuzz_http.py`) for every route of the surface, sent "
            "byte for byte over a socket: generated path parameters, query strings, cookies (a valid web chat "
            "session and a logged-in RM's console session, absent, or junk with non-ASCII bytes), the CSRF token "
            "(valid, absent, junk), content types and headers, and bodies (JSON objects with the fields the "
            "gateway reads holding lone surrogates, NUL, integers past 2⁶³, floats, lists and NaN; raw bytes; "
            "deep nesting; oversized). A violation is a 5xx other than `/readyz`'s designed 503, no answer, or an "
            "unhandled exception in the server log; afterwards a customer must still be able to chat and the RM "
            "to load the console list. Cases/s counts whole HTTP requests (database work included), not setup.",
            "",
            "Violations are counted rather than raised, so the run always reaches its case count.",
            "",
            *summary,
            "",
            *rows,
            "",
            f"**{total:,} cases in {wall_s:.0f} s wall time, {len(found)} distinct violations.** "
            f"1-minute load average at the end: {load_1m:.1f} on {os.cpu_count()} cores (cases/s fall with "
            "other work on the machine).",
            *(["", "Violations found:", *found] if found else []),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="fuzz the gateway (WeChat parsing, web chat and console APIs)")
    parser.add_argument("--cases", type=int, default=100_000, help="total WeChat parsing examples (default 100,000)")
    parser.add_argument(
        "--http-cases", type=int, default=HTTP_CASES, help=f"requests per HTTP surface (default {HTTP_CASES:,})"
    )
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--no-write", action="store_true", help="print only, leave BENCHMARKS.md alone")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    props, total = run(args.cases, args.http_cases, args.jobs)
    wall_s = time.perf_counter() - started
    load_1m = os.getloadavg()[0]
    command = "python -m bench.fuzz" + (f" --cases {args.cases}" if args.cases != 100_000 else "")
    command += f" --http-cases {args.http_cases}" if args.http_cases != HTTP_CASES else ""
    body = render(props, total, wall_s, command, load_1m)
    print(body)
    if not args.no_write:
        write_section("Fuzzing (make bench-fuzz)", body)
    return 1 if any(p.failure for p in props) else 0  # findings fail the run (and `make bench-fuzz`)


if __name__ == "__main__":
    sys.exit(main())
