"""The plain-Python floor: read lines, parse JSON, normalise and hash the email; nothing else.

python benchmarks/floor.py --input FILE
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--input", required=True)
    args = parser.parse_args()
    records = 0
    hashed = 0
    loads = json.loads
    sha256 = hashlib.sha256
    with open(args.input, encoding="utf-8") as lines:  # noqa: PTH123
        for line in lines:
            message = loads(line)
            if message.get("type") != "RECORD":
                continue
            records += 1
            email = message["record"].get("traits", {}).get("email")
            if isinstance(email, str):
                sha256(email.strip().lower().encode()).hexdigest()
                hashed += 1
    print(f"floor: {records} records, {hashed} emails hashed", file=sys.stderr)


if __name__ == "__main__":
    main()
