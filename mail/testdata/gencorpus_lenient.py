# Messages as real mailboxes hold them: read by gencorpus.py (exec), which
# defines save(). Each case is hand-written here; where one follows another
# project's public test fixture, the comment says which and its licence.

CRLF = "\r\n"

def msg(lines):
    return CRLF.join(lines).encode("latin-1")

# An mbox "From " envelope line above the headers, LF line endings (as an
# mbox file holds them; the shape of Python's test_mailbox fixtures, PSF
# licence).
save("mbox-envelope", ("From jane@example.com Tue Nov 24 10:00:00 2026\n"
    "From: Jane <jane@example.com>\nTo: support@shop.example\nSubject: order\n"
    "Date: Tue, 24 Nov 2026 10:00:00 +0000\nMessage-ID: <mbox-1@example.com>\n\n"
    "Please use 4000 0566 5566 5556 for the order.\n").encode(), ["4000 0566 5566 5556"])

# Transfer-encoding tokens as written by broken mailers: "7-bit", "8bits",
# "Quoted Printable" (with a soft break inside the number), " BASE64 ".
b64 = base64.encodebytes("Amex 3714 496353 98431 on file\n".encode()).decode().replace("\n", "\r\n")
save("cte-variants", msg([
    "From: a@example.com", "To: support@shop.example", "Subject: tokens", "MIME-Version: 1.0",
    'Content-Type: multipart/mixed; boundary="tok"', "",
    "--tok", "Content-Type: text/plain; charset=us-ascii", "Content-Transfer-Encoding: 7-bit", "",
    "card 4242 4242 4242 4242", "--tok", "Content-Type: text/plain; charset=iso-8859-1",
    "Content-Transfer-Encoding: 8bits", "", "r\xe9glez 5200 8282 8282 8210 merci",
    "--tok", "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: Quoted Printable", "",
    "Visa 4917 6100 00=", "00 0000 thank you =E2=80=94 bye",
    "--tok", "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding:  BASE64 ", "",
    b64.rstrip("\r\n"), "--tok--", ""]),
    ["4242 4242 4242 4242", "5200 8282 8282 8210", "4917 6100 0000 0000", "3714 496353 98431"])

# An inner boundary that starts with the outer one ("--b.X-1" inside
# "--b.X"): only a whole line is a delimiter (RFC 2046 §5.1.1). The shape of
# the "boundary is a prefix" cases of Go's mime/multipart tests (BSD licence).
save("boundary-prefix", msg([
    "From: a@example.com", "To: support@shop.example", "Subject: prefix", "MIME-Version: 1.0",
    'Content-Type: multipart/mixed; boundary="b.X"', "",
    "--b.X", 'Content-Type: multipart/alternative; boundary="b.X-1"', "",
    "--b.X-1", "Content-Type: text/plain", "", "plain 6011 0009 9013 9424",
    "--b.X-1", "Content-Type: text/html", "", "<p>html 6011 0009 9013 9424</p>",
    "--b.X-1--", "",
    "--b.X", "Content-Type: text/plain", "", "after 3056 9309 0259 04",
    "--b.X--", ""]), ["6011 0009 9013 9424", "3056 9309 0259 04"])

# A missing closing boundary: the last part ends with the message.
save("missing-close", msg([
    "From: a@example.com", "To: support@shop.example", "Subject: cut off", "MIME-Version: 1.0",
    'Content-Type: multipart/mixed; boundary="cut"', "",
    "--cut", "Content-Type: text/plain", "", "first part",
    "--cut", "Content-Type: text/plain", "", "last part 4000 0025 0000 3155", ""]),
    ["4000 0025 0000 3155"])

# A multipart type whose body has no delimiter at all: read as text.
save("multipart-no-delimiter", msg([
    "From: a@example.com", "To: support@shop.example", "Subject: no parts", "MIME-Version: 1.0",
    'Content-Type: multipart/alternative; boundary="never-used"', "",
    "The body is plain text: 5105 1051 0510 5100.", ""]), ["5105 1051 0510 5100"])

# Unknown charset labels: Windows-1252 bytes (a no-break space 0xA0 between
# the groups) under a label nobody knows, and valid UTF-8 under "utf8mb4".
save("unknown-charset", msg([
    "From: a@example.com", "To: support@shop.example", "Subject: charsets", "MIME-Version: 1.0",
    'Content-Type: multipart/mixed; boundary="cs"', "",
    "--cs", "Content-Type: text/plain; charset=x-user-defined-42", "Content-Transfer-Encoding: 8bit", "",
    "Caf\xe9 card 4111\xa01111\xa01111\xa01111 \x96 thanks",
    "--cs", "Content-Type: text/plain; charset=utf8mb4", "Content-Transfer-Encoding: 8bit", "",
    "Jos\xc3\xa9: 5555 5555 5555 4444",
    "--cs--", ""]), ["4111\u00a01111\u00a01111\u00a01111", "5555 5555 5555 4444"])

# Base64 with junk after the data: a footer a list server appended.
data = base64.encodebytes("Card 3566 0020 2036 0505\n".encode()).decode().replace("\n", "\r\n")
save("base64-junk", msg([
    "From: a@example.com", "To: support@shop.example", "Subject: footer", "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: base64", "",
    data.rstrip("\r\n"), "", "-- ", "Sent via the list; reply card 6200 0000 0000 0005", ""]),
    ["3566 0020 2036 0505", "6200 0000 0000 0005"])

# Nesting beyond the limit: not read, delivered as a degraded copy.
depth = 25
lines = ["From: Deep <deep@example.com>", "To: support@shop.example", "Subject: nested 4111 1111 1111 1111", "MIME-Version: 1.0"]
for i in range(depth):
    lines += ['Content-Type: multipart/mixed; boundary="d%d"' % i, "", "--d%d" % i]
lines += ["Content-Type: text/plain", "", "deep card 5555 5555 5555 4444"]
for i in reversed(range(depth)):
    lines += ["--d%d--" % i]
save("too-deep", msg(lines + [""]), ["4111 1111 1111 1111", "5555 5555 5555 4444"], degraded=True)
