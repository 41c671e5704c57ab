"""What the signature tests share (imported as `from sigkit import ...`, like adminkit)."""

from __future__ import annotations

#: Object keys that trip up canonicalisation: reserved and unreserved characters, unicode,
#: empty segments, dot segments and a literal percent-encoded slash.
TRICKY_KEYS = [
    "plain.txt",
    "with space.txt",
    "plus+sign",
    "100%",
    "ünïcödé/ключ/鍵",
    "emoji-😀",
    "double//slash",
    "trailing/",
    "~tilde~",
    "(parens)[brackets]{braces}",
    "a=b&c?d#e;f:g@h,i$j!k'l*m",
    "./dot/../dots",
    "%2F literal",
]
