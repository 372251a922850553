"""Parse rate of mailtext.message.parse_message on a generated corpus of payments-support mail.

    python benchmarks/parse.py [--messages 2000] [--rounds 5] [--seed 7] [--dump DIR]

The corpus is built here, deterministically from the seed, to look like what a payments support inbox
receives: a realistic header block (Received chain, DKIM, Authentication-Results), half of the messages
multipart/alternative with an HTML part (light Gmail-style or heavier Outlook-style), 15% with one or
two attachments of 2-40 KB, 20% replies with quoted history; median 4 KB, mean 8 KB (the attachments
pull the mean up). Prints messages/s for parse_message and, for comparison, for stdlib parsing with
policy.compat32 and policy.default, bare and with the reading of subject, sender and body added.
"""

from __future__ import annotations

import argparse
import base64
import email.parser
import email.policy
import html
import quopri
import random
import statistics
import sys
import time
from collections.abc import Callable
from email.header import Header, decode_header, make_header
from email.utils import getaddresses
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mailtext.message import parse_message

FIRST = [
    "Anna",
    "Jürgen",
    "Chloé",
    "Marco",
    "Priya",
    "Tomás",
    "Ingrid",
    "Kwame",
    "Sofia",
    "Lukas",
    "Amélie",
    "Omar",
    "Hannah",
    "Diego",
    "Mei",
    "Olivier",
    "Zoë",
    "Henrik",
    "Fatima",
    "Noah",
]
LAST = [
    "Schröder",
    "Dubois",
    "Rossi",
    "Okafor",
    "Nakamura",
    "García",
    "Lindqvist",
    "Patel",
    "Müller",
    "Bernard",
    "Kowalski",
    "Haddad",
    "O'Neill",
    "Jensen",
    "Moreau",
    "Fischer",
    "Silva",
    "Novak",
]
DOMAINS = [
    "gmail.com",
    "outlook.com",
    "web.de",
    "orange.fr",
    "example-shop.com",
    "bakery-berlin.de",
    "tickets-lyon.fr",
    "yahoo.co.uk",
    "gmx.net",
    "fastmail.com",
    "craftco.io",
    "velo-store.nl",
]
SUPPORT = "support@payhub.example"

OPENINGS = [
    "Hi team,",
    "Hello,",
    "Hi there,",
    "Dear PayHub support,",
    "Good morning,",
    "Hallo zusammen,",
    "Bonjour,",
    "Hi,",
]
CLOSINGS = [
    "Thanks,",
    "Best regards,",
    "Kind regards,",
    "Cheers,",
    "Many thanks in advance,",
    "Viele Grüße,",
    "Cordialement,",
]
# Each topic: a few sentences a merchant or cardholder would write; combined at random into bodies.
TOPICS = {
    "refunds": [
        "I issued a refund of EUR {amount} for order #{order} on {day} but the customer says it has not "
        "arrived on their card yet.",
        "The refund shows as pending in the dashboard for more than ten business days now.",
        "Can you tell me whether a partial refund can be reversed if I refunded the wrong amount?",
        "Our customer was charged twice for the same basket and we need to refund one of the charges.",
    ],
    "payouts": [
        "Our payout of EUR {amount} scheduled for {day} never reached our bank account.",
        "The payout was marked as failed with the reason 'account_closed' but the IBAN is correct.",
        "Why has the payout schedule changed from daily to weekly without notice?",
        "We need a statement of all payouts for the last quarter for our accountant.",
    ],
    "disputes": [
        "We received a chargeback for payment {payment} with reason code 4837 (no cardholder authorisation).",
        "I uploaded the delivery confirmation and the signed receipt as evidence for the dispute.",
        "The dispute deadline is on {day}; please confirm our evidence was submitted to the issuer.",
        "How can we reduce the number of 'fraudulent' disputes on our account?",
    ],
    "declines": [
        "Card payments from customers in the UK are being declined with 'do_not_honor' since yesterday.",
        "Several 3-D Secure challenges fail for Visa cards issued in Germany.",
        "A customer tried to pay EUR {amount} three times and every attempt was declined.",
        "Is there a way to see the issuer's decline reason in more detail?",
    ],
    "api": [
        "Our webhook endpoint stopped receiving payment_intent.succeeded events around {time}.",
        "The API returns HTTP 429 rate limit errors when we create more than 20 payments per second.",
        "We rotated our secret key and now the idempotency keys from before are rejected.",
        "The signature check on webhooks fails after we moved behind a new load balancer.",
    ],
    "verification": [
        "Our account is restricted and asks for additional verification documents for the director.",
        "I uploaded the passport twice but the verification keeps failing with 'document_unreadable'.",
        "We changed our legal address; how do we update the business details for KYC?",
        "Payouts are paused until verification completes; how long does the review usually take?",
    ],
    "billing": [
        "The invoice for {month} lists fees of EUR {amount} that we cannot match to transactions.",
        "We were charged the international card fee on domestic cards.",
        "Please send us the VAT invoice for our subscription with our new VAT number.",
        "Our pricing plan should include interchange++ but the fees look like blended pricing.",
    ],
}
QUOTE_INTROS = [
    "On {wd}, {d} {mon} 2026 at {hh}:{mm}, PayHub Support <support@payhub.example> wrote:",
    "Am {d:02d}.{m:02d}.2026 um {hh}:{mm} schrieb PayHub Support <support@payhub.example>:",
    "Le {d} {mon_fr} 2026 à {hh}:{mm}, PayHub Support <support@payhub.example> a écrit :",
]
SUPPORT_REPLY = [
    "Thank you for reaching out. We have looked into payment {payment} and can see that the issuer "
    "returned a soft decline.",
    "Could you please send us the payment ID and the approximate time of the attempt?",
    "The refund was processed on our side and is now with the card network; it usually takes 5-10 "
    "business days to show on the statement.",
    "Our team has escalated this to the payouts team and will get back to you within one business day.",
    "Best regards,\nLena\nPayHub Support",
]
SIGNATURES = [
    "-- \n{name}\nHead of Finance, {company}\n+49 30 1234567",
    "-- \n{name} | {company}\nhttps://www.{domain}",
    "Sent from my iPhone",
    "Von meinem iPhone gesendet",
    "",
]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
MONTHS_FR = [
    "janv.",
    "févr.",
    "mars",
    "avr.",
    "mai",
    "juin",
    "juil.",
    "août",
    "sept.",
    "oct.",
    "nov.",
    "déc.",
]
WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def _fill(rng: random.Random, sentence: str) -> str:
    return sentence.format(
        amount=f"{rng.randint(5, 4000)}.{rng.randint(0, 99):02d}",
        order=rng.randint(100000, 999999),
        payment=f"pay_{rng.getrandbits(64):016x}",
        day=f"{rng.randint(1, 28)} {rng.choice(MONTHS)}",
        month=rng.choice(MONTHS),
        time=f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d} UTC",
    )


def _paragraphs(rng: random.Random, topic: str, count: int) -> list[str]:
    sentences = TOPICS[topic]
    return [" ".join(_fill(rng, rng.choice(sentences)) for _ in range(rng.randint(2, 4))) for _ in range(count)]


def _wrap(text: str, width: int = 72) -> str:
    lines = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split(" "):
            if line and len(line) + 1 + len(word) > width:
                lines.append(line)
                line = word
            else:
                line = f"{line} {word}" if line else word
        lines.append(line)
    return "\n".join(lines)


_OUTLOOK_HEAD = (
    '<html xmlns:o="urn:schemas-microsoft-com:office:office"><head>'
    '<meta http-equiv="Content-Type" content="text/html; charset=utf-8">'
    '<meta name="Generator" content="Microsoft Word 15 (filtered medium)">'
    '<style><!--\n@font-face {font-family:"Cambria Math"; panose-1:2 4 5 3 5 4 6 3 2 4;}\n'
    "@font-face {font-family:Calibri; panose-1:2 15 5 2 2 2 4 3 2 4;}\n"
    "p.MsoNormal, li.MsoNormal, div.MsoNormal {margin:0cm; font-size:11.0pt;\n"
    '  font-family:"Calibri",sans-serif;}\n'
    "a:link, span.MsoHyperlink {mso-style-priority:99; color:#0563C1; text-decoration:underline;}\n"
    "span.EmailStyle17 {mso-style-type:personal-compose;\n"
    '  font-family:"Calibri",sans-serif; color:windowtext;}\n'
    '.MsoChpDefault {mso-style-type:export-only; font-family:"Calibri",sans-serif;}\n'
    "@page WordSection1 {size:612.0pt 792.0pt; margin:72.0pt 72.0pt 72.0pt 72.0pt;}\n"
    "div.WordSection1 {page:WordSection1;}\n--></style>"
    '<!--[if gte mso 9]><xml><o:shapedefaults v:ext="edit" spidmax="1026" /></xml><![endif]-->'
    '</head><body lang="EN-US" link="#0563C1" vlink="#954F72"><div class="WordSection1">\n'
)


def _html_of(text: str, rng: random.Random) -> str:
    # Half light (Gmail, Apple Mail: quotes in <blockquote>), half Outlook: a Word style sheet and a
    # span per paragraph, which is what makes real support HTML several times the size of its text.
    own, _, quoted = text.partition("\n> ")
    paragraphs = [html.escape(p).replace("\n", "<br>\n") for p in own.strip().split("\n\n")]
    quote = html.escape("> " + quoted).replace("\n&gt; ", "<br>\n").removeprefix("&gt; ") if quoted else ""
    if rng.random() < 0.5:
        body = "".join(f"<div>{p}</div><div><br></div>\n" for p in paragraphs)
        if quote:
            body += f'<div class="gmail_quote"><blockquote class="gmail_quote">{quote}</blockquote></div>'
        return f'<div dir="ltr">{body}</div>\n'
    span = '<span style="font-size:11.0pt;font-family:&quot;Calibri&quot;,sans-serif;color:#1F497D">'
    body = "".join(f'<p class="MsoNormal">{span}{p}<o:p></o:p></span></p>\n' for p in paragraphs)
    if quote:
        body += (
            '<div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm">'
            f'<p class="MsoNormal">{span}{quote}</span></p></div>'
        )
    return f"{_OUTLOOK_HEAD}{body}</div></body></html>\n"


def _qp(text: str) -> str:
    return quopri.encodestring(text.encode("utf-8")).decode("ascii")


def _b64(data: bytes) -> str:
    encoded = base64.b64encode(data).decode("ascii")
    return "\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))


def _addr_header(name: str, addr: str, rng: random.Random) -> str:
    if name.isascii():
        return f'"{name}" <{addr}>'
    if rng.random() < 0.5:
        return f"{Header(name, 'utf-8').encode()} <{addr}>"
    return f"=?iso-8859-1?q?{quopri.encodestring(name.encode('latin-1'), header=True).decode()}?= <{addr}>"


def _headers(rng: random.Random, i: int, sender: str, name: str, subject: str, reply: bool) -> list[str]:
    day = rng.randint(1, 28)
    hops = []
    for hop in range(rng.randint(3, 5)):
        hops.append(
            f"Received: from mx{hop}.{rng.choice(DOMAINS)} (mx{hop}.{rng.choice(DOMAINS)} "
            f"[203.0.113.{rng.randint(1, 254)}])\n\tby mx.payhub.example (Postfix) with ESMTPS id "
            f"{rng.getrandbits(40):010X}\n\tfor <{SUPPORT}>; {WEEKDAYS[day % 7]}, {day} Mar 2026 "
            f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d} +0000 (UTC)"
        )
    sig = _b64(rng.randbytes(180)).replace("\n", "\n\t ")
    encoded_subject = subject if subject.isascii() else Header(subject, "utf-8").encode()
    headers = [
        f"Return-Path: <{sender}>",
        "Delivered-To: support@payhub.example",
        *hops,
        "Authentication-Results: mx.payhub.example; dkim=pass header.d="
        + sender.split("@")[1]
        + "; spf=pass smtp.mailfrom="
        + sender
        + "; dmarc=pass (p=NONE) header.from="
        + sender.split("@")[1],
        f"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d={sender.split('@')[1]}; s=s1;\n\t"
        f"t={1760000000 + i}; h=from:to:subject:date:message-id:mime-version;\n\t"
        f"bh={base64.b64encode(rng.randbytes(32)).decode()};\n\tb={sig}",
        f"From: {_addr_header(name, sender, rng)}",
        f"To: PayHub Support <{SUPPORT}>",
        f"Subject: {encoded_subject}",
        f"Date: {WEEKDAYS[day % 7]}, {day} Mar 2026 {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:"
        f"{rng.randint(0, 59):02d} {rng.choice(['+0100', '+0000', '-0500', '+0200'])}",
        f"Message-ID: <{rng.getrandbits(80):020x}.{i}@{sender.split('@')[1]}>",
        "MIME-Version: 1.0",
        f"X-Mailer: {rng.choice(['Apple Mail (2.3774)', 'Microsoft Outlook 16.0', 'Thunderbird 128.3'])}",
    ]
    if rng.random() < 0.3:
        headers.append(f"Cc: {_addr_header(rng.choice(FIRST), 'finance@' + sender.split('@')[1], rng)}")
    if reply:
        parent = f"<{rng.getrandbits(64):016x}@payhub.example>"
        headers.append(f"In-Reply-To: {parent}")
        headers.append(f"References: <{rng.getrandbits(64):016x}@{sender.split('@')[1]}>\n {parent}")
        headers.append("Thread-Topic: " + encoded_subject.removeprefix("Re: "))
    return headers


def _message(rng: random.Random, i: int) -> bytes:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    name = f"{first} {last}"
    domain = rng.choice(DOMAINS)
    sender = f"{first.lower().encode('ascii', 'ignore').decode()}.{rng.randint(1, 99)}@{domain}"
    topic = rng.choice(list(TOPICS))
    reply = rng.random() < 0.20
    alternative = rng.random() < 0.50
    attachments = rng.randint(1, 2) if rng.random() < 0.15 else 0
    subject = f"{topic.capitalize()} question: order {rng.randint(1000, 99999)}"
    if rng.random() < 0.2:
        subject += " \u2013 dringend / urgent"
    if reply:
        subject = "Re: " + subject

    paragraphs = _paragraphs(rng, topic, rng.randint(2, 4))
    signature = rng.choice(SIGNATURES).format(name=name, company=domain.split(".")[0].title(), domain=domain)
    text = "\n\n".join([rng.choice(OPENINGS), *map(_wrap, paragraphs), rng.choice(CLOSINGS) + "\n" + first])
    if signature:
        text += "\n\n" + signature
    if reply:
        d, m = rng.randint(1, 28), rng.randint(1, 12)
        intro = rng.choice(QUOTE_INTROS).format(
            wd=rng.choice(WEEKDAYS),
            d=d,
            m=m,
            mon=MONTHS[m - 1],
            mon_fr=MONTHS_FR[m - 1],
            hh=f"{rng.randint(8, 18):02d}",
            mm=f"{rng.randint(0, 59):02d}",
        )
        quoted = "\n\n".join(_wrap(_fill(rng, p)) for p in SUPPORT_REPLY) + "\n\n" + _wrap(paragraphs[0])
        text += "\n\n" + _wrap(intro, 78) + "\n" + "\n".join("> " + line for line in quoted.split("\n"))
    text += "\n"

    headers = _headers(rng, i, sender, name, subject, reply)
    boundary = f"----=_Part_{rng.getrandbits(48):012x}"
    plain_part = "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: " + (
        f"quoted-printable\n\n{_qp(text)}" if rng.random() < 0.8 else f"base64\n\n{_b64(text.encode())}"
    )
    if alternative:
        alt = f"{boundary}_alt"
        body_part = (
            f'Content-Type: multipart/alternative; boundary="{alt}"\n\n'
            f"--{alt}\n{plain_part}\n--{alt}\n"
            f"Content-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n"
            f"{_qp(_html_of(text, rng))}\n--{alt}--\n"
        )
    else:
        body_part = plain_part
    if attachments:
        parts = [body_part]
        for n in range(attachments):
            kind = rng.choice(["pdf", "png", "csv"])
            # log-uniform over 2-40 KB: screenshots and statements are mostly small
            size = int(2 * 1024 * 20 ** rng.random())
            if kind == "csv":
                rows = ["payment_id,amount,currency,status"]
                while sum(len(r) + 1 for r in rows) < size:
                    rows.append(f"pay_{rng.getrandbits(48):012x},{rng.randint(1, 9999)}.00,EUR,refunded")
                data = "\n".join(rows).encode()
                ctype = "text/csv"
            else:
                data = (b"%PDF-1.7\n" if kind == "pdf" else b"\x89PNG\r\n\x1a\n") + rng.randbytes(size)
                ctype = "application/pdf" if kind == "pdf" else "image/png"
            stem = rng.choice(["statement", "Kontoauszug März", "screenshot", "évidence-litige"])
            filename = f"{stem}-{n}.{kind}"
            if filename.isascii():
                disposition = f'attachment; filename="{filename}"'
            else:
                disposition = "attachment; filename*=utf-8''" + "".join(
                    f"%{b:02X}" if b > 127 or chr(b) in " %'" else chr(b) for b in filename.encode()
                )
            parts.append(
                f'Content-Type: {ctype}; name="{filename if filename.isascii() else "file." + kind}"\n'
                f"Content-Disposition: {disposition}\nContent-Transfer-Encoding: base64\n\n{_b64(data)}"
            )
        mixed = f"{boundary}_mix"
        body = (
            f'Content-Type: multipart/mixed; boundary="{mixed}"\n\n'
            "This is a multi-part message in MIME format.\n\n"
            + "".join(f"--{mixed}\n{p}\n" for p in parts)
            + f"--{mixed}--\n"
        )
    else:
        body = body_part
    raw = "\n".join(headers) + "\n" + body
    return raw.replace("\n", "\r\n").encode("ascii")


def build_corpus(count: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    return [_message(rng, i) for i in range(count)]


def _rates(candidates: list[tuple[str, Callable[[bytes], object]]], corpus: list[bytes], rounds: int) -> list[float]:
    # Rounds interleave the candidates, so that load from other processes falls on all of them alike.
    rates: list[list[float]] = [[] for _ in candidates]
    for _ in range(rounds):
        for index, (_, func) in enumerate(candidates):
            start = time.process_time()
            for raw in corpus:
                func(raw)
            rates[index].append(len(corpus) / (time.process_time() - start))
    return [statistics.median(found) for found in rates]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--dump", type=Path, help="write the corpus as .eml files into this directory")
    args = parser.parse_args()

    corpus = build_corpus(args.messages, args.seed)
    sizes = sorted(len(m) for m in corpus)
    print(
        f"corpus: {len(corpus)} messages, mean {statistics.mean(sizes) / 1024:.1f} KB, "
        f"median {statistics.median(sizes) / 1024:.1f} KB, max {sizes[-1] / 1024:.1f} KB; "
        f"{sum(b'multipart/alternative' in m for m in corpus)} with HTML, "
        f"{sum(b'multipart/mixed' in m for m in corpus)} with attachments, "
        f"{sum(b'In-Reply-To:' in m for m in corpus)} replies"
    )
    print("rates: CPU time of this process (time.process_time) on one core, median of interleaved rounds")
    if args.dump:
        args.dump.mkdir(parents=True, exist_ok=True)
        for i, raw in enumerate(corpus):
            (args.dump / f"{i:05d}.eml").write_bytes(raw)

    compat32 = email.parser.BytesParser(policy=email.policy.compat32)
    default = email.parser.BytesParser(policy=email.policy.default)

    def compat32_read(raw: bytes) -> object:
        # the least a caller of compat32 must add: the subject, the sender and the plain body decoded
        msg = compat32.parsebytes(raw)
        text = None
        for part in msg.walk():
            if part.get_content_type() == "text/plain":
                payload = part.get_payload(decode=True)
                if isinstance(payload, bytes):
                    text = payload.decode(part.get_content_charset() or "utf-8", "replace")
                break
        subject = str(make_header(decode_header(msg.get("subject", ""))))
        return subject, getaddresses([str(msg.get("from", ""))]), text

    def default_read(raw: bytes) -> object:
        msg = default.parsebytes(raw)
        body = msg.get_body(("plain", "html"))
        return msg["subject"], msg["from"], msg["date"], body.get_content() if body else None

    candidates: list[tuple[str, Callable[[bytes], object]]] = [
        ("parse_message", parse_message),
        ("compat32, parse only", compat32.parsebytes),
        ("compat32 + subject/from/body", compat32_read),
        ("policy.default, parse only", default.parsebytes),
        ("policy.default + get_body etc.", default_read),
    ]
    for (label, _), rate in zip(candidates, _rates(candidates, corpus, args.rounds), strict=True):
        print(f"{label:32s} {rate:8.0f} messages/s")


if __name__ == "__main__":
    main()
