#!/usr/bin/env python3
"""Take new items out of a dataset, for the cold-item evaluation.

The new items are the test file's items (rows of the test split, labelled
or not) that never occur in the behaviour log. They are removed from the
item table and from every row of the test file, so the graph the model
trains on has no node for them at all. Writes:
  - the item table without them (same columns);
  - the test file without their rows;
  - the new items as `item,category,shop,brand,price` (empty for unknown),
    from the item table;
  - their positive test pairs as `user,item`, the targets.
`worker cold-items` then folds each new item in and ranks them for the users.
"""
import argparse
import csv


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--log", required=True)
    p.add_argument("--log-item", required=True, help="item column of the log")
    p.add_argument("--items", required=True, help="item table")
    p.add_argument("--item", required=True, help="item column of the item table and the test file")
    p.add_argument("--category", help="category column of the item table")
    p.add_argument("--shop", help="shop column of the item table")
    p.add_argument("--brand", help="brand column of the item table")
    p.add_argument("--price", help="price column of the item table")
    p.add_argument("--test", required=True, help="test file")
    p.add_argument("--test-user", required=True)
    p.add_argument("--label", required=True, help="label column: rows labelled 1 are the targets")
    p.add_argument("--split", required=True, help="split column")
    p.add_argument("--test-split", default="2", help="the split value of the test rows")
    p.add_argument("--out-items", required=True)
    p.add_argument("--out-test", required=True)
    p.add_argument("--out-cold", required=True)
    p.add_argument("--out-pairs", required=True)
    a = p.parse_args()
    logged = set()
    with open(a.log, newline="") as f:
        reader = csv.DictReader(f)
        if a.log_item not in reader.fieldnames:
            raise SystemExit(f"{a.log}: no column {a.log_item!r} (has {reader.fieldnames})")
        for row in reader:
            logged.add(row[a.log_item].strip())
    with open(a.test, newline="") as f:
        reader = csv.DictReader(f)
        for column in (a.test_user, a.item, a.label, a.split):
            if column not in reader.fieldnames:
                raise SystemExit(f"{a.test}: no column {column!r} (has {reader.fieldnames})")
        test_fields = reader.fieldnames
        test_rows = list(reader)
    cold = {
        r[a.item].strip() for r in test_rows if r[a.split].strip() == a.test_split and r[a.item].strip() not in logged
    }
    pairs = sorted(
        {
            (r[a.test_user].strip(), r[a.item].strip())
            for r in test_rows
            if r[a.split].strip() == a.test_split and r[a.label].strip() == "1" and r[a.item].strip() in cold
        }
    )
    with open(a.out_test, "w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=test_fields)
        writer.writeheader()
        removed = 0
        for r in test_rows:
            if r[a.item].strip() in cold:
                removed += 1
            else:
                writer.writerow(r)
    found = {}
    with open(a.items, newline="") as f, open(a.out_items, "w", newline="") as out:
        reader = csv.DictReader(f)
        writer = csv.DictWriter(out, fieldnames=reader.fieldnames)
        writer.writeheader()
        for row in reader:
            item = row[a.item].strip()
            if item in cold:
                found[item] = row
            else:
                writer.writerow(row)
    with open(a.out_cold, "w", newline="") as out:
        out.write("item,category,shop,brand,price\n")
        for item in sorted(cold, key=int):
            row = found.get(item, {})
            value = lambda column: row.get(column, "").strip() if column else ""
            out.write(f"{item},{value(a.category)},{value(a.shop)},{value(a.brand)},{value(a.price)}\n")
    with open(a.out_pairs, "w", newline="") as out:
        out.write("user,item\n")
        for user, item in pairs:
            out.write(f"{user},{item}\n")
    print(
        f"{len(cold)} new items ({len(found)} in the item table), {len(pairs)} positive test pairs with them; "
        f"{removed} test rows removed"
    )


if __name__ == "__main__":
    main()
