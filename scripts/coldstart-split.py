#!/usr/bin/env python3
"""Hold users out of training entirely, for the cold-start evaluation.

Reads a behaviour log (CSV with a header), picks a fraction of its users by
a seeded hash of their id, and writes:
  - the log without them (same columns), for the graph the model trains on;
  - the test file without them, when there is one;
  - their events as `user,item,behavior,time` (Unix seconds), with their
    test-file items (those labelled 1, with --test-label) appended as
    purchases after their last event.
`worker coldstart` then folds each of them in from their first behaviours.
"""
import argparse
import csv
import datetime
import hashlib


def held_out(user, fraction, seed):
    digest = hashlib.sha256(f"{seed}:{user}".encode()).digest()
    return int.from_bytes(digest[:8], "little") / 2**64 < fraction


def unix(value, kind):
    if kind == "yyyymmdd":
        d = datetime.datetime.strptime(value, "%Y%m%d").replace(tzinfo=datetime.timezone.utc)
        return int(d.timestamp())
    return int(float(value))


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--log", required=True)
    p.add_argument("--user", required=True, help="user column")
    p.add_argument("--item", required=True, help="item column")
    p.add_argument("--behavior", required=True, help="behaviour column")
    p.add_argument("--time", required=True, help="time column")
    p.add_argument("--time-kind", choices=["unix", "yyyymmdd"], default="unix")
    p.add_argument("--test", help="test file (user, item columns as in the log)")
    p.add_argument("--test-user", default=None)
    p.add_argument("--test-item", default=None)
    p.add_argument("--test-label", default=None, help="label column: only rows labelled 1 are purchases")
    p.add_argument("--fraction", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out-log", required=True)
    p.add_argument("--out-test")
    p.add_argument("--out-users", required=True)
    a = p.parse_args()
    if not 0.0 < a.fraction < 1.0:
        raise SystemExit(f"--fraction must be in (0, 1), got {a.fraction}")
    cold = {}
    kept = total = 0
    with open(a.log, newline="") as f, open(a.out_log, "w", newline="") as out:
        reader = csv.DictReader(f)
        for column in (a.user, a.item, a.behavior, a.time):
            if column not in reader.fieldnames:
                raise SystemExit(f"{a.log}: no column {column!r} (has {reader.fieldnames})")
        writer = csv.DictWriter(out, fieldnames=reader.fieldnames)
        writer.writeheader()
        for row in reader:
            total += 1
            user = row[a.user]
            if held_out(user, a.fraction, a.seed):
                cold.setdefault(user, []).append(
                    (unix(row[a.time], a.time_kind), row[a.item], row[a.behavior])
                )
            else:
                writer.writerow(row)
                kept += 1
    test_moved = 0
    if a.test:
        tu, ti = a.test_user or a.user, a.test_item or a.item
        with open(a.test, newline="") as f, open(a.out_test, "w", newline="") as out:
            reader = csv.DictReader(f)
            writer = csv.DictWriter(out, fieldnames=reader.fieldnames)
            writer.writeheader()
            for row in reader:
                user = row[tu]
                if user in cold:
                    if a.test_label is None or row[a.test_label].strip() == "1":
                        last = max(t for t, _, _ in cold[user])
                        cold[user].append((last + 1, row[ti], "buy"))
                        test_moved += 1
                else:
                    writer.writerow(row)
    with open(a.out_users, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["user", "item", "behavior", "time"])
        for user, events in sorted(cold.items()):
            for t, item, behavior in sorted(events, key=lambda e: e[0]):
                writer.writerow([user, item, behavior, t])
    print(
        f"held out {len(cold)} users ({sum(len(e) for e in cold.values())} events, "
        f"{test_moved} test purchases); kept {kept} of {total} rows"
    )


if __name__ == "__main__":
    main()
