#!/usr/bin/env python3
"""The peer for the generator benchmark: the way a cron script would do it, with Python's
`secrets` module (the documented CSPRNG interface), the same alphabet and a rejection loop on the
same class and username rules (v1 API, Windows, 20 characters). Prints passwords per second."""
import re
import secrets
import string
import sys
import time

SPECIALS = "!@%-_=+[]:./?"
ALPHABET = string.ascii_uppercase + string.ascii_lowercase + string.digits + SPECIALS
NAME = "administrator"
FRAGMENTS = {NAME[i:i + 3] for i in range(len(NAME) - 2)} | {NAME[::-1][i:i + 3] for i in range(len(NAME) - 2)}


def complies(p: str) -> bool:
    classes = [any(c.isupper() for c in p), any(c.islower() for c in p),
               any(c.isdigit() for c in p), any(c in SPECIALS for c in p)]
    if not all(classes) or p.startswith("/"):
        return False
    low = p.lower()
    if "root" in low or "toor" in low:
        return False
    return not any(low[i:i + 3] in FRAGMENTS for i in range(len(low) - 2))


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
    count = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        while True:
            p = "".join(secrets.choice(ALPHABET) for _ in range(20))
            if complies(p):
                break
        count += 1
    elapsed = time.perf_counter() - start
    print(f"{count / elapsed:.0f}")


if __name__ == "__main__":
    main()
