"""Print one closing line over every pytest JUnit report: 'tests: N passed, N failed'."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def main() -> int:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else ".reports")
    passed = failed = skipped = 0
    reports = sorted(folder.glob("*.xml"))
    for report in reports:
        for suite in ET.parse(report).getroot().iter("testsuite"):
            total = int(suite.get("tests", 0))
            bad = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
            skip = int(suite.get("skipped", 0))
            passed += total - bad - skip
            failed += bad
            skipped += skip
    print(f"runs: {len(reports)} pytest sessions ({', '.join(r.stem for r in reports)})")
    print(f"tests: {passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed or not reports or not passed else 0


if __name__ == "__main__":
    raise SystemExit(main())
