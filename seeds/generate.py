#!/usr/bin/env python3
"""Generate the example shop's raw exports, deterministically.

    python3 seeds/generate.py                 # the committed seeds (scale 1)
    python3 seeds/generate.py --scale 50 --out /tmp/big-seeds
    python3 seeds/generate.py --append-days 1 --out /tmp/big-seeds   # one more day of orders and events

Writes users.csv, orders.csv and ab_assignments.csv (exports of the
production database) and events.jsonl (the event API's dump). The data is
messy the way real exports are: channel names in mixed case with stray
spaces, amounts as text, timestamps as ISO strings, test orders to drop.
"""
import argparse
import datetime as dt
import json
import os
import random

CHANNELS = [("tiktok", 0.45), ("youtube", 0.30), ("organic", 0.25)]
# How a channel's users behave: chance to order in a month, decay of it.
BEHAVIOUR = {"tiktok": (0.35, 0.55), "youtube": (0.40, 0.75), "organic": (0.45, 0.85)}
SPELLINGS = {"tiktok": ["tiktok", "TikTok", " tiktok"], "youtube": ["youtube", "YouTube"], "organic": ["organic", "Organic "]}
START = dt.datetime(2026, 1, 1)
DAYS = 181  # January to June


def pick(rng, weighted):
    x, acc = rng.random(), 0.0
    for value, weight in weighted:
        acc += weight
        if x < acc:
            return value
    return weighted[-1][0]


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="1 = 3,000 users (about 1.5 MB)")
    parser.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--append-days", type=int, default=0, metavar="N",
                        help="append N days of orders and events after the newest in --out, instead of generating")
    args = parser.parse_args()
    if args.append_days:
        append_days(args.out, args.append_days, args.seed)
        return
    rng = random.Random(args.seed)
    os.makedirs(args.out, exist_ok=True)
    n_users = int(3000 * args.scale)
    end = START + dt.timedelta(days=DAYS)

    users, orders, events, assignments = [], [], [], []
    order_id = event_id = 0
    for user_id in range(1, n_users + 1):
        channel = pick(rng, CHANNELS)
        signup = START + dt.timedelta(seconds=rng.randrange(DAYS * 86400))
        country = pick(rng, [("DE", 0.4), ("FR", 0.3), ("ES", 0.2), ("IT", 0.1)])
        users.append((user_id, iso(signup), rng.choice(SPELLINGS[channel]), country))

        variant = "green" if rng.random() < 0.5 else "control"
        assigned = signup + dt.timedelta(minutes=rng.randrange(1, 60))
        assignments.append((user_id, "checkout_button_color", variant, iso(assigned)))

        p_order, decay = BEHAVIOUR[channel]
        if variant == "green":
            p_order *= 1.15  # the new colour converts better
        month = 0
        t = signup
        while t < end:
            active = rng.random() < max(0.6 * decay**month, 0.05)
            if active:
                for _ in range(rng.randrange(1, 6)):
                    event_id += 1
                    ts = t + dt.timedelta(seconds=rng.randrange(30 * 86400))
                    if ts >= end:
                        continue
                    kind = pick(rng, [("page_view", 0.8), ("checkout_click", 0.2)])
                    events.append({"event_id": event_id, "user_id": user_id, "event_type": kind,
                                   "ts": iso(ts), "page": rng.choice(["/", "/shop", "/cart", "/item"])})
            if rng.random() < p_order * decay**month:
                order_id += 1
                ts = t + dt.timedelta(seconds=rng.randrange(30 * 86400))
                if ts < end:
                    amount = round(rng.uniform(8, 120), 2)
                    status = pick(rng, [("completed", 0.9), ("refunded", 0.07), ("test", 0.03)])
                    orders.append((order_id, user_id, iso(ts), f"{amount:.2f}", status))
            month += 1
            t += dt.timedelta(days=30)

    orders.sort(key=lambda o: o[2])
    events.sort(key=lambda e: e["ts"])
    with open(os.path.join(args.out, "users.csv"), "w") as f:
        f.write("user_id,signup_at,channel,country\n")
        f.writelines(f"{u},{s},{c},{k}\n" for u, s, c, k in users)
    with open(os.path.join(args.out, "orders.csv"), "w") as f:
        f.write("order_id,user_id,ordered_at,amount,status\n")
        f.writelines(",".join(map(str, o)) + "\n" for o in orders)
    with open(os.path.join(args.out, "ab_assignments.csv"), "w") as f:
        f.write("user_id,experiment,variant,assigned_at\n")
        f.writelines(",".join(map(str, a)) + "\n" for a in assignments)
    with open(os.path.join(args.out, "events.jsonl"), "w") as f:
        f.writelines(json.dumps(e, separators=(",", ":")) + "\n" for e in events)
    print(f"{len(users)} users, {len(orders)} orders, {len(events)} events -> {args.out}")


def append_days(out, days, seed):
    """Append `days` days of orders and events to the exports in `out`, for
    the users already there, as a daily export would add them."""
    with open(os.path.join(out, "users.csv")) as f:
        users = [line.split(",") for line in f.read().splitlines()[1:]]
    with open(os.path.join(out, "orders.csv")) as f:
        lines = f.read().splitlines()[1:]
    last_order = max(int(l.split(",")[0]) for l in lines)
    newest = max(l.split(",")[2] for l in lines)
    with open(os.path.join(out, "events.jsonl")) as f:
        last_event, newest_event = 0, ""
        for line in f:
            e = json.loads(line)
            last_event = max(last_event, e["event_id"])
            newest_event = max(newest_event, e["ts"])
    day = dt.datetime.fromisoformat(max(newest, newest_event)[:10]) + dt.timedelta(days=1)
    rng = random.Random(seed * 1000 + int(day.timestamp()) // 86400)
    orders, events = [], []
    for d in range(days):
        start = day + dt.timedelta(days=d)
        # About the daily volume of the generated history.
        for _ in range(max(1, len(lines) // DAYS)):
            last_order += 1
            user = rng.choice(users)
            ts = start + dt.timedelta(seconds=rng.randrange(86400))
            status = pick(rng, [("completed", 0.9), ("refunded", 0.07), ("test", 0.03)])
            orders.append(f"{last_order},{user[0]},{iso(ts)},{rng.uniform(8, 120):.2f},{status}\n")
        for _ in range(max(1, last_event // DAYS)):
            last_event += 1
            user = rng.choice(users)
            ts = start + dt.timedelta(seconds=rng.randrange(86400))
            kind = pick(rng, [("page_view", 0.8), ("checkout_click", 0.2)])
            events.append(json.dumps({"event_id": last_event, "user_id": int(user[0]), "event_type": kind,
                                      "ts": iso(ts), "page": rng.choice(["/", "/shop", "/cart", "/item"])},
                                     separators=(",", ":")) + "\n")
    with open(os.path.join(out, "orders.csv"), "a") as f:
        f.writelines(orders)
    with open(os.path.join(out, "events.jsonl"), "a") as f:
        f.writelines(events)
    print(f"appended {days} day(s) from {day:%Y-%m-%d}: {len(orders)} orders, {len(events)} events -> {out}")


if __name__ == "__main__":
    main()
