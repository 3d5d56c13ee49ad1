#!/usr/bin/python3
"""The reference for strake's RRULE expansion (src/base/rrule_test.cc):
python-dateutil's rrule, from Debian's python3-dateutil.

Reads JSON lines {"rule", "dtstart" (YYYYMMDDTHHMMSS), "tz", "n", "horizon",
"from", "to"} and writes one JSON line each: {"first": the first n
occurrences up to dtstart + horizon seconds, "between": those in [from, to]},
as Unix seconds, or {"error": why} for a rule dateutil refuses."""
import json
import sys
from datetime import datetime, timedelta, timezone

from dateutil import tz
from dateutil.rrule import rrulestr

for line in sys.stdin:
    case = json.loads(line)
    zone = tz.gettz(case["tz"])
    start = datetime.strptime(case["dtstart"], "%Y%m%dT%H%M%S").replace(tzinfo=zone)
    try:
        rule = rrulestr(case["rule"], dtstart=start)
    except ValueError as e:  # a rule that never occurs
        print(json.dumps({"error": str(e)}), flush=True)
        continue
    limit = start + timedelta(seconds=case["horizon"])
    first = []
    for occurrence in rule.between(start - timedelta(seconds=1), limit, inc=True):
        if len(first) == case["n"]:
            break
        first.append(int(occurrence.timestamp()))
    lo = datetime.fromtimestamp(case["from"], timezone.utc)
    hi = datetime.fromtimestamp(case["to"], timezone.utc)
    between = [int(o.timestamp()) for o in rule.between(lo, hi, inc=True)]
    print(json.dumps({"first": first, "between": between}), flush=True)
