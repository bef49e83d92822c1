# Everything a person can read or a system can index: read by gencorpus.py
# (exec) after gencorpus_lenient.py. Hand-written cases.

# format=flowed (RFC 3676): soft line breaks inside numbers, with DelSp=yes
# and in a quoted paragraph. The shape of RFC 3676's own examples.
save("flowed", msg([
    "From: a@example.com", "To: support@shop.example", "Subject: flowed", "MIME-Version: 1.0",
    'Content-Type: text/plain; charset=utf-8; format=flowed; delsp=yes', "Content-Transfer-Encoding: 7bit", "",
    "Hello, my card is 4111 1111 ", "1111 1111 and the other one is 5555 5555 55 ", "55 4444.",
    "", "> On Monday you wrote: use 3782 822463 ", "> 10005 please", "", "-- ", "Jane", ""]),
    ["4111 1111 1111 1111", "5555 5555 5555 4444", "3782 822463 10005"])

# iCalendar (RFC 5545 §3.1) line folding, in a text/calendar part and in an
# .ics attachment sent as application/octet-stream, base64 (as Outlook does).
ics = CRLF.join(["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Example//Cal//EN", "BEGIN:VEVENT",
    "UID:evt-1@example.com", "DTSTART:20261201T100000Z", "SUMMARY:Payment call",
    "DESCRIPTION:Customer will pay with 6011 1111 11", " 11 1117 on the call.", "END:VEVENT", "END:VCALENDAR", ""])
ics2 = ics.replace("6011 1111 11\r\n 11 1117", "4012 8888 88\r\n\t88 1881")
save("calendar", msg([
    "From: a@example.com", "To: support@shop.example", "Subject: invitation", "MIME-Version: 1.0",
    'Content-Type: multipart/mixed; boundary="cal"', "",
    "--cal", 'Content-Type: text/calendar; charset=utf-8; method=REQUEST', "", ics,
    "--cal", 'Content-Type: application/octet-stream; name="invite.ics"',
    'Content-Disposition: attachment; filename="invite.ics"', "Content-Transfer-Encoding: base64", "",
    base64.encodebytes(ics2.encode()).decode().replace("\n", "\r\n").rstrip("\r\n"),
    "--cal--", ""]), ["6011 1111 1111 1117", "4012 8888 8888 1881"])

# HTML: digits the way the page renders them, attributes, comments, title.
page = ("<html><head><title>Order 4111 1111 1111 1111</title></head><body>"
    "<p>Card <span>5555</span><span>5555</span> <span>5555</span><span>4444</span></p>"
    "<p>Amex 3782<!-- x -->822463<!-- y -->10005</p>"
    "<p>Disc 6011<wbr>1111<wbr>1111<wbr>1117</p>"
    "<p>Visa&#32;4012&#x20;8888&nbsp;8888&#160;1881</p>"
    "<p>Number\n   4242\n   4242\n   4242\n   4242</p>"
    '<a href="https://pay.example/?card=4000056655665556&amp;x=1" title="card 5200 8282 8282 8210">pay</a>'
    '<img src="cid:logo" alt="3566 0020 2036 0505">'
    '<input type="hidden" value="6200000000000005" data-card="4917 6100 0000 0000">'
    '<a href="https://pay.example/?c=4000%200025%200000%203155">link</a>'
    "<!-- internal note: card 5105 1051 0510 5100 -->"
    "<table><tr><td>1234 5678</td><td>8765 4321</td></tr></table>"
    "<p>ref 1234 5678<br>9012 3456</p>"
    "</body></html>")
save("html-render", msg([
    "From: a@example.com", "To: support@shop.example", "Subject: html", "MIME-Version: 1.0",
    "Content-Type: text/html; charset=utf-8", "Content-Transfer-Encoding: quoted-printable", "",
    quopri.encodestring(page.encode()).decode().replace("\n", "\r\n"), ""]),
    ["4111 1111 1111 1111", "5555555555554444", "378282246310005", "6011111111111117", "4012 8888 8888 1881",
     "4242 4242 4242 4242", "4000056655665556", "5200 8282 8282 8210", "3566 0020 2036 0505", "6200000000000005",
     "4917 6100 0000 0000", "4000 0025 0000 3155", "5105 1051 0510 5100"])

# Every header: message ids, trace fields, a number split across two
# encoded words, name and filename parameters (plain, RFC 2231 continuations,
# RFC 2047-encoded as Outlook writes them).
save("headers-everywhere", msg([
    "Return-Path: <4111111111111111@bounce.example>",
    "Received: from mx.example (4000056655665556.mx.example [192.0.2.1])",
    " by mail.shop.example with ESMTP id 5555555555554444; Tue, 24 Nov 2026 10:00:00 +0000",
    "From: =?utf-8?q?Jane_4012_8888?= =?utf-8?q?_8888_1881?= <jane@example.com>",
    "To: support@shop.example",
    "Subject: =?utf-8?b?S2FydGUgNjAxMSAxMTEx?= =?utf-8?b?IDExMTEgMTExNyBmw7xy?=",
    "Message-ID: <3782822463.10005@example.com>",
    "In-Reply-To: <6200000000000005@example.com>",
    "References: <a@example.com>", " <4917610000000000@example.com>",
    "Date: Tue, 24 Nov 2026 10:00:00 +0000",
    "X-Order-Ref: card 5200 8282 8282 8210",
    "MIME-Version: 1.0",
    'Content-Type: multipart/mixed; boundary="hdr"', "",
    "--hdr", "Content-Type: text/plain", "", "See the attachments.",
    "--hdr", 'Content-Type: application/pdf; name="card 3566 0020 2036 0505.pdf"',
    "Content-Disposition: attachment;", " filename*0=\"card 4000 0025 \";", " filename*1=\"0000 3155.pdf\"",
    "Content-Transfer-Encoding: base64", "", base64.b64encode(b"%PDF-1.4 not text 4111111111111111").decode(),
    "--hdr", 'Content-Type: image/png; name="=?utf-8?q?scan_5105_1051_0510_5100=2Epng?="',
    "Content-Disposition: attachment; filename*=utf-8''scan%205105%201051%200510%205100.png",
    "Content-Transfer-Encoding: base64", "", base64.b64encode(b"\x89PNG\r\n\x1a\n binary 5555555555554444").decode(),
    "--hdr--", ""]),
    ["4111111111111111", "4000056655665556", "5555555555554444", "4012 8888 8888 1881", "6011 1111 1111 1117",
     "3782822463", "6200000000000005", "4917610000000000", "5200 8282 8282 8210", "3566 0020 2036 0505",
     "4000 0025 0000 3155", "5105 1051 0510 5100"])

# Text-like parts that are not text/*, in a delivery report (RFC 3464) with
# a disposition notification (RFC 8098), the returned headers and data
# files; binary parts beside them stay byte for byte.
save("text-like", msg([
    "From: MAILER-DAEMON@mx.example", "To: support@shop.example", "Subject: Undelivered Mail", "MIME-Version: 1.0",
    'Content-Type: multipart/report; report-type=delivery-status; boundary="rep"', "",
    "--rep", "Content-Type: text/plain", "", "Your message could not be delivered.",
    "--rep", "Content-Type: message/delivery-status", "", "Reporting-MTA: dns; mx.example", "",
    "Final-Recipient: rfc822; 4111111111111111@example.com", "Action: failed", "Status: 5.1.1",
    "Diagnostic-Code: smtp; 550 user 5555 5555", " 5555 4444 unknown",
    "--rep", "Content-Type: message/disposition-notification", "",
    "Reporting-UA: mua.example", "Original-Message-ID: <4012888888881881@example.com>", "Disposition: manual-action/MDN-sent-manually; displayed",
    "--rep", "Content-Type: text/rfc822-headers", "", "From: a@example.com",
    "Subject: =?utf-8?q?card_6011_1111?= =?utf-8?q?_1111_1117?=",
    "--rep", "Content-Type: application/json", "", '{"card": "4242 4242 4242 4242", "amount": 12.5}',
    "--rep", "Content-Type: application/xml", "", "<order><card>4000 0566 5566 5556</card></order>",
    "--rep", "Content-Type: application/x-www-form-urlencoded", "", "name=Jane&card=5200+8282+8282+8210&cvv=123&alt=3566%200020%202036%200505",
    "--rep", 'Content-Type: application/csv; name="cards.csv"', "", "name,card", "Jane,6200 0000 0000 0005",
    "--rep", 'Content-Type: image/gif; name="pixel.gif"', "Content-Transfer-Encoding: base64", "",
    base64.b64encode(b"GIF89a\x01\x00\x01\x00 4917610000000000 \x00\x3b").decode(),
    "--rep", 'Content-Type: application/octet-stream; name="blob.bin"', "",
    "4000 0025 0000 3155 in a blob nobody reads as text",
    "--rep--", ""]),
    ["4111111111111111", "5555 5555 5555 4444", "4012888888881881", "6011 1111 1111 1117", "4242 4242 4242 4242",
     "4000 0566 5566 5556", "5200 8282 8282 8210", "3566 0020 2036 0505", "6200 0000 0000 0005"])

# The multipart preamble and epilogue: kept and scanned.
save("preamble-epilogue", msg([
    "From: a@example.com", "To: support@shop.example", "Subject: around", "MIME-Version: 1.0",
    'Content-Type: multipart/mixed; boundary="pe"', "",
    "This is a multi-part message; card 4111 1111 1111 1111.",
    "--pe", "Content-Type: text/plain", "", "inside",
    "--pe--", "epilogue 5555 5555 5555 4444", ""]), ["4111 1111 1111 1111", "5555 5555 5555 4444"])
