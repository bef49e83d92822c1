#!/usr/bin/env python3
"""Generates corpus.txt: realistic chat and email texts with labelled card
numbers. A labelled card is written [[like this]]; records are separated by
a line holding only '%%'. Deterministic (fixed seed): rerun to regenerate.

    python3 redact/testdata/gencorpus.py > redact/testdata/corpus.txt
"""
import random

rnd = random.Random(20261124)

def luhn_ok(s):
    t = 0
    for i, c in enumerate(reversed(s)):
        d = int(c)
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        t += d
    return t % 10 == 0

def make(prefix, n):
    body = prefix + "".join(rnd.choice("0123456789") for _ in range(n - 1 - len(prefix)))
    for d in "0123456789":
        if luhn_ok(body + d):
            return body + d

def make_invalid(prefix, n):
    """A number that fails Luhn, and so does every shorter prefix of it that
    could be a card, so it is a negative however it is grouped."""
    while True:
        s = make(prefix, n)
        s = s[:-1] + str((int(s[-1]) + rnd.randint(1, 9)) % 10)
        if not any(luhn_ok(s[:k]) for k in range(12, n + 1)):
            return s

BRANDS = [  # prefix choices, lengths, grouping
    (["4"], [16, 16, 16, 13, 19], None),
    (["51", "52", "53", "54", "55", "2221", "2300", "2720"], [16], None),
    (["34", "37"], [15], [4, 6, 5]),
    (["6011", "644", "65", "622126", "622500"], [16, 19], None),
    (["300", "305", "36", "38"], [14], [4, 6, 4]),
    (["3528", "3566", "3589"], [16], None),
    (["62", "6212", "8100"], [16, 19], None),
    (["6759", "6304", "5018", "5893", "67"], [16, 18, 19], None),
    (["2200", "2204"], [16], None),
    (["506699", "509123", "636368", "650031"], [16], None),
    (["606282", "384100"], [16], None),
]

FW = str.maketrans("0123456789", "０１２３４５６７８９")

def card():
    prefixes, lengths, grouping = rnd.choice(BRANDS)
    n = rnd.choice(lengths)
    num = make(rnd.choice(prefixes), n)
    return num, grouping

def write(num, grouping):
    style = rnd.choice(["plain", "space", "space", "space", "dash", "dash", "dot", "nbsp",
                        "narrow", "spaced-dash", "brand", "fullwidth", "double", "mixed"])
    sizes = grouping if (grouping and style == "brand") else [4] * 5
    parts, rest = [], num
    for s in sizes:
        if len(rest) <= s:
            break
        parts.append(rest[:s])
        rest = rest[s:]
    parts.append(rest)
    sep = {"plain": "", "space": " ", "dash": "-", "dot": ".", "nbsp": "\u00a0", "narrow": "\u202f",
           "spaced-dash": " - ", "brand": " ", "fullwidth": " ", "double": "  ", "mixed": None}[style]
    if style == "mixed":
        out = parts[0]
        for p in parts[1:]:
            out += rnd.choice([" ", "-", " "]) + p
    else:
        out = sep.join(parts)
    if style == "fullwidth":
        out = out.translate(FW)
    return out

NAMES = ["Anna", "Bilal", "Chen", "Dolores", "Emeka", "Fatima", "Gareth", "Hiro", "Ines", "Jonas", "Kwame", "Lena"]
PRODUCTS = ["the blue kettle", "order 44871", "my subscription", "the annual plan", "two tickets", "the hotel booking"]

def neg_phone():
    return rnd.choice(["(555) %03d-%04d", "+1 415 %03d %04d", "+44 20 %04d %04d", "0%03d %06d", "1-800-%03d-%04d"]) % (
        rnd.randint(100, 999), rnd.randint(1000, 9999))

def neg_number():
    kind = rnd.choice(["order", "tracking", "date", "amount", "invalid", "long", "ip", "isbn", "iban", "ups", "time"])
    if kind == "order":
        return "order #%d" % rnd.randint(10**7, 10**10)
    if kind == "tracking":
        return "tracking 9400 1%03d %04d %04d %04d %02d" % (rnd.randint(0, 999), rnd.randint(0, 9999), rnd.randint(0, 9999), rnd.randint(0, 9999), rnd.randint(0, 99))
    if kind == "date":
        return rnd.choice(["on 2025-%02d-%02d", "on %02d.%02d.2026", "by %02d/%02d/2026"]) % (rnd.randint(1, 12), rnd.randint(1, 28))
    if kind == "amount":
        return rnd.choice(["$%d,%03d.%02d", "€%d %03d,%02d", "£%d%03d.%02d"]) % (rnd.randint(1, 99), rnd.randint(0, 999), rnd.randint(0, 99))
    if kind == "invalid":
        num, g = card()
        bad = make_invalid(num[:2], len(num))
        return "the old card " + write(bad, g)
    if kind == "long":
        num, _ = card()
        return "reference %s%04d" % (num, rnd.randint(1000, 9999))
    if kind == "ip":
        return "IP 192.168.%d.%d" % (rnd.randint(0, 255), rnd.randint(0, 255))
    if kind == "isbn":
        return "ISBN 978-%d-%02d-%06d-%d" % (rnd.randint(0, 9), rnd.randint(10, 99), rnd.randint(0, 999999), rnd.randint(0, 9))
    if kind == "iban":
        rnd.randint(10, 99)  # the old random check digits: keeps the stream of draws
        bban = "%04d %04d %04d %04d %02d" % (rnd.randint(0, 9999), rnd.randint(0, 9999), rnd.randint(0, 9999), rnd.randint(0, 9999), rnd.randint(0, 99))
        n = int("".join(str(int(c, 36)) for c in bban.replace(" ", "") + "DE00"))
        return "IBAN DE%02d %s" % (98 - n % 97, bban)  # a valid IBAN (mod 97)
    if kind == "ups":
        return "UPS 1Z%03dAA1%08d" % (rnd.randint(100, 999), rnd.randint(0, 99999999))
    return "at %02d:%02d" % (rnd.randint(0, 23), rnd.randint(0, 59))

def L(num, g):
    return "[[" + write(num, g) + "]]"

CHAT = [
    lambda c: "Hi, I'd like to pay for %s. My card number is %s" % (rnd.choice(PRODUCTS), c),
    lambda c: "card: %s exp %02d/%02d cvv %03d" % (c, rnd.randint(1, 12), rnd.randint(26, 31), rnd.randint(0, 999)),
    lambda c: "%s" % c,
    lambda c: "ok here it is %s thanks" % c,
    lambda c: "It's %s, expiry %02d/%02d" % (c, rnd.randint(1, 12), rnd.randint(26, 31)),
    lambda c: "can you charge %s please? my phone is %s" % (c, neg_phone()),
    lambda c: "The card ending... actually the whole number is %s. Name on card %s" % (c, rnd.choice(NAMES)),
    lambda c: "sorry typo, correct one: %s" % c,
    lambda c: "Visa/MC? mine is %s (%s)" % (c, neg_number()),
    lambda c: "%s 1 more question about %s" % (c, neg_number()),
    lambda c: "Please use %s for %s, I paid %s last time" % (c, rnd.choice(PRODUCTS), neg_number()),
    lambda c: "number:%s" % c,
    lambda c: "(%s)" % c,
    lambda c: "my card is\n%s\nexp %02d/%02d" % (c, rnd.randint(1, 12), rnd.randint(26, 31)),
]

CHAT_NEG = [
    lambda: "Hello, where is my %s? It was due %s." % (rnd.choice(["parcel", "refund", "order"]), neg_number()),
    lambda: "My number is %s, call me after 5" % neg_phone(),
    lambda: "Can I get a refund for %s, %s?" % (neg_number(), neg_number()),
    lambda: "I was charged %s twice %s" % (neg_number(), neg_number()),
    lambda: "The confirmation code is %s and %s" % (neg_number(), neg_number()),
    lambda: "thanks %s, have a nice day" % rnd.choice(NAMES),
    lambda: "Meeting moved %s %s" % (neg_number(), neg_number()),
]

def email(cards):
    name = rnd.choice(NAMES)
    lines = ["Subject: Payment for %s" % rnd.choice(PRODUCTS), "", "Dear support team,", ""]
    lines.append("I am writing about %s, placed %s. The invoice total was %s." % (neg_number(), neg_number(), neg_number()))
    lines.append("You can reach me on %s or reply to this email." % neg_phone())
    for c in cards:
        lines.append(rnd.choice([
            "Please charge the outstanding balance to my card %s." % c,
            "The card to use is %s, valid until %02d/%02d." % (c, rnd.randint(1, 12), rnd.randint(26, 31)),
            "Card number:\t%s" % c,
            "> On the phone I gave you %s but it was declined" % c,
        ]))
        lines.append("Some context: %s, %s." % (neg_number(), neg_number()))
    lines += ["", "Kind regards,", name, "%s | %s" % (neg_phone(), neg_number())]
    return "\n".join(lines)

records = []
for _ in range(260):
    r = rnd.random()
    if r < 0.55:
        num, g = card()
        records.append(rnd.choice(CHAT)(L(num, g)))
    elif r < 0.80:
        records.append(rnd.choice(CHAT_NEG)())
    else:
        cards = [L(*card()) for _ in range(rnd.choice([0, 1, 1, 2]))]
        records.append(email(cards))
print("\n%%\n".join(records))
