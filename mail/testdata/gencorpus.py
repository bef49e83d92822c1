#!/usr/bin/env python3
"""Generates the mail corpus: real-shaped messages with planted card numbers.

Each message is written to corpus/NAME.eml; corpus/manifest.json lists, for
each, the numbers planted in it (as written) and whether it is malformed.
Run from this directory: python3 gencorpus.py
"""
import base64, email, hashlib, json, os, quopri, zlib
from email.message import EmailMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.mime.application import MIMEApplication
from email.mime.message import MIMEMessage
from email.header import Header
from email.utils import formataddr
from email import policy

out = "corpus"
os.makedirs(out, exist_ok=True)
manifest = {}

BINARY = ("image/", "application/pdf", "application/zip", "audio/", "video/")

def tree(msg, path, nodes, binary):
    """The part tree as Python's email parser (an independent, lenient
    parser) reads it, and the SHA-256 of every binary part's payload."""
    ct = msg.get_content_type()
    nodes.append("%s=%s" % (path, ct))
    if ct == "message/rfc822" and msg.is_multipart():
        tree(msg.get_payload(0), path + ".msg", nodes, binary)
    elif msg.is_multipart() and ct.startswith("multipart/"):
        for i, p in enumerate(msg.get_payload()):
            tree(p, "%s.%d" % (path, i), nodes, binary)
    elif ct.startswith(BINARY):
        binary[path] = hashlib.sha256(msg.get_payload(decode=True) or b"").hexdigest()

def save(name, msg, planted, degraded=False, source=None):
    data = msg if isinstance(msg, bytes) else msg.as_bytes(policy=policy.SMTP)
    with open(os.path.join(out, name + ".eml"), "wb") as f:
        f.write(data)
    parsed = email.message_from_bytes(data, policy=policy.compat32)
    nodes, binary = [], {}
    tree(parsed, "0", nodes, binary)
    entry = {"planted": planted, "tree": sorted(nodes)}
    if binary:
        entry["binary"] = binary
    if degraded:
        entry["degraded"] = True
    if source:
        entry["source"] = source
    manifest[name] = entry

def base(subject="Payment", frm=("Jane Customer", "jane@example.com")):
    return {"From": formataddr(frm), "To": "support@shop.example", "Subject": subject,
            "Date": "Tue, 24 Nov 2026 10:00:00 +0000", "Message-ID": "<%08x@example.com>" % zlib.crc32(subject.encode())}

def headers(m, h):
    for k, v in h.items():
        m[k] = v
    return m

# 1. plain text, 7bit
m = MIMEText("Hello,\r\nplease charge my card 4111 1111 1111 1111, expiry 09/28.\r\nOrder #10004567.\r\n", "plain", "us-ascii")
save("plain-7bit", headers(m, base()), ["4111 1111 1111 1111"])

# 2. quoted-printable with a soft line break inside the number
body = "Dear team,\r\nmy Mastercard number is 5555 5555 5555 4444 and thank you very much for your help today.\r\n"
qp = quopri.encodestring(body.encode(), quotetabs=False).decode()
# force a soft break in the middle of the number
qp = qp.replace("5555 5555 5555 4444", "5555 5555 55=\r\n55 4444")
raw = ("From: Bob <bob@example.com>\r\nTo: support@shop.example\r\nSubject: card\r\nDate: Tue, 24 Nov 2026 10:00:00 +0000\r\n"
       "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" + qp)
save("qp-soft-break", raw.encode(), ["5555 5555 5555 4444"])

# 3. base64 text
m = MIMEText("Card: 378282246310005 (Amex)\nThanks!\n", "plain", "utf-8")
m.replace_header("Content-Transfer-Encoding", "base64") if "Content-Transfer-Encoding" in m else None
save("base64-text", headers(m, base()), ["378282246310005"])

# 4. multipart/alternative, HTML with entities and tags inside the number
alt = MIMEMultipart("alternative")
alt.attach(MIMEText("Pay with 6011 1111 1111 1117 please.\n", "plain", "utf-8"))
alt.attach(MIMEText('<html><body><p>Pay with <b>6011</b>&nbsp;1111<span style="color:red"> 1111 </span>1117 please.</p>'
                    '<p>Ref&#58; 4012&#32;8888&#32;8888&#32;1881</p></body></html>', "html", "utf-8"))
save("alternative-html", headers(alt, base("Order 554")), ["6011 1111 1111 1117", "4012 8888 8888 1881"])

# 5. HTML only, quoted-printable
h = MIMEText("<div>Visa: <i>4111-1111-1111-1111</i></div><div>phone (555) 010-0199</div>", "html", "utf-8")
save("html-only", headers(h, base()), ["4111-1111-1111-1111"])

# 6. non-UTF-8 charset (ISO-8859-1) with accents, and an encoded-word Subject with a number
m = MIMEText("Bonjour, réglez avec 4111 1111 1111 1111 s'il vous plaît. Merci beaucoup, José.\n", "plain", "iso-8859-1")
hdr = base()
hdr["Subject"] = Header("Carte 5105 1051 0510 5100 à débiter", "iso-8859-1").encode()
save("latin1", headers(m, hdr), ["4111 1111 1111 1111", "5105 1051 0510 5100"])

# 7. attachments: a PDF (binary, passes through) and a text/csv attachment with a card
mix = MIMEMultipart("mixed")
mix.attach(MIMEText("See the attached files.\n", "plain", "utf-8"))
pdf = MIMEApplication(b"%PDF-1.4\n" + bytes(range(256)) * 4 + b"4111111111111111 is not text here\n", "pdf")
pdf.add_header("Content-Disposition", "attachment", filename="invoice.pdf")
mix.attach(pdf)
csv = MIMEText("name,card\nJane,3566002020360505\n", "csv", "utf-8")
csv.add_header("Content-Disposition", "attachment", filename="cards.csv")
mix.attach(csv)
save("attachments", headers(mix, base("Files")), ["3566002020360505"])

# 8. nested message/rfc822 with its own multipart and a display name holding a number
inner = MIMEMultipart("alternative")
inner.attach(MIMEText("Forwarded: card 2223 0000 4841 0010\n", "plain", "utf-8"))
inner.attach(MIMEText("<p>Forwarded: card 2223&nbsp;0000&nbsp;4841&nbsp;0010</p>", "html", "utf-8"))
headers(inner, {"From": formataddr(("Card 6200 0000 0000 0005", "x@example.com")), "To": "a@example.com",
                "Subject": "inner", "Date": "Mon, 23 Nov 2026 09:00:00 +0000"})
outer = MIMEMultipart("mixed")
outer.attach(MIMEText("FYI, see below.\n", "plain", "utf-8"))
outer.attach(MIMEMessage(inner))
save("nested-rfc822", headers(outer, base("Fwd: inner")), ["2223 0000 4841 0010", "6200 0000 0000 0005"])

# 9. UTF-8 encoded-word display name with full-width digits, no card in body
m = MIMEText("No card here, just order 12345678 and 2026-11-24.\n", "plain", "utf-8")
hdr = base()
hdr["From"] = formataddr((str(Header("Ｊａｎｅ ４１１１ １１１１ １１１１ １１１１", "utf-8")), "jane@example.com"))
save("fullwidth-header", headers(m, hdr), ["４１１１ １１１１ １１１１ １１１１"])

# 10. nothing to redact at all: must come out byte for byte
m = MIMEText("Hello, when will my order 10004567 arrive? Call me at +44 20 7946 0958.\n", "plain", "utf-8")
save("clean", headers(m, base("Where is my order")), [])

# 11. multipart without a closing boundary and an unknown transfer encoding
# (read as it is)
raw = ("From: x@example.com\r\nSubject: broken\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
       "--b1\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: x-unknown\r\n\r\ncard 4111 1111 1111 1111\r\n")
save("malformed-encoding", raw.encode(), ["4111 1111 1111 1111"])

# 12. multipart with no boundary parameter: the body is read as text
raw = ("From: x@example.com\r\nSubject: broken\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed\r\n\r\n"
       "card 4111 1111 1111 1111\r\n")
save("malformed-boundary", raw.encode(), ["4111 1111 1111 1111"])

exec(open("gencorpus_lenient.py").read())
exec(open("gencorpus_leaks.py").read())

with open(os.path.join(out, "manifest.json"), "w") as f:
    json.dump(manifest, f, indent=1, ensure_ascii=False, sort_keys=True)
print(len(manifest), "messages")
