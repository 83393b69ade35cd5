"""Expected values of mart's statistics functions, computed with SciPy and
statsmodels, written to cases.csv beside this script (committed: CI reads
the table and does not need these libraries).

    python3 -m venv v && v/bin/pip install scipy statsmodels
    v/bin/python tests/stats/cases.py

Columns: function, arguments a1..a7 (empty when unused), expected (empty
for null), and what computed it.
"""
import csv
import math
import os
import random

import numpy as np
import scipy
import statsmodels
from scipy import stats
from scipy import optimize
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_effectsize,
    proportions_ztest,
)

rng = random.Random(2026)
rows = []


def z_pvalue(xa, na, xb, nb, alternative="two-sided"):
    """statsmodels' p-value; its NaN (an empty arm, no variance) is null."""
    with np.errstate(all="ignore"):
        p = float(proportions_ztest([xa, xb], [na, nb], alternative=alternative)[1])
    return p if math.isfinite(p) else None


def add(function, args, expected, source):
    args = list(args) + [""] * (7 - len(args))
    rows.append([function, *args, "" if expected is None else repr(expected), source])


zsource = f"statsmodels {statsmodels.__version__} proportions_ztest"
for _ in range(300):
    na = int(10 ** rng.uniform(1, 6.5))
    nb = int(na * rng.uniform(0.5, 2)) + 1
    rate = 10 ** rng.uniform(-3, -0.05)
    lift = rng.uniform(-0.3, 0.5)
    xa = min(na, int(rng.gauss(na * rate, math.sqrt(na * rate) + 1) + 0.5))
    xb = min(nb, int(rng.gauss(nb * rate * (1 + lift), math.sqrt(nb * rate) + 1) + 0.5))
    xa, xb = max(xa, 0), max(xb, 0)
    add("ab_z_pvalue", (xa, na, xb, nb), z_pvalue(xa, na, xb, nb), zsource)
    alternative = rng.choice(["larger", "smaller"])
    add("ab_z_pvalue", (xa, na, xb, nb, alternative), z_pvalue(xa, na, xb, nb, alternative), zsource)
for case in [(0, 0, 1, 2), (0, 10, 0, 10), (10, 10, 10, 10), (1, 10, 1, 10), (0, 5000, 200, 5000)]:
    add("ab_z_pvalue", case, z_pvalue(*case), zsource)

ssource = f"scipy {scipy.__version__} chisquare"
for _ in range(200):
    total = int(10 ** rng.uniform(1, 7))
    share = rng.choice([0.5, 0.5, 0.1, 0.2, 1 / 3, 0.9, 0.01])
    drift = rng.choice([0, 0, 0.001, 0.01, 0.05])
    na = min(total, max(0, int(rng.gauss(total * (share + drift), math.sqrt(total * share * (1 - share))) + 0.5)))
    nb = total - na
    p = float(stats.chisquare([na, nb], [total * share, total * (1 - share)]).pvalue)
    add("srm_pvalue", (na, nb, share), p, ssource)
add("srm_pvalue", (0, 0, 0.5), None, ssource)

tsource = f"scipy {scipy.__version__} ttest_ind_from_stats(equal_var=False)"
for _ in range(200):
    na, nb = int(10 ** rng.uniform(0.5, 6)), int(10 ** rng.uniform(0.5, 6))
    scale = 10 ** rng.uniform(-2, 4)
    ma = rng.uniform(0, 100) * scale
    mb = ma + rng.gauss(0, scale * rng.choice([0.001, 0.01, 0.1, 1]))
    va, vb = (scale * rng.uniform(0.1, 3)) ** 2, (scale * rng.uniform(0.1, 3)) ** 2
    p = float(stats.ttest_ind_from_stats(ma, math.sqrt(va), na, mb, math.sqrt(vb), nb, equal_var=False).pvalue)
    add("welch_t_pvalue", (na, repr(ma), repr(va), nb, repr(mb), repr(vb)), p, tsource)
    # Welch's interval: the difference ± t.ppf at Welch's df times its standard error.
    level = rng.choice([0.8, 0.9, 0.95, 0.95, 0.99, 0.999])
    se_a, se_b = va / na, vb / nb
    df = (se_a + se_b) ** 2 / (se_a**2 / (na - 1) + se_b**2 / (nb - 1))
    half = float(stats.t.ppf(1 - (1 - level) / 2, df)) * math.sqrt(se_a + se_b)
    args = (na, repr(ma), repr(va), nb, repr(mb), repr(vb), level)
    add("welch_diff_low", args, (ma - mb) - half, f"scipy {scipy.__version__} t.ppf")
    add("welch_diff_high", args, (ma - mb) + half, f"scipy {scipy.__version__} t.ppf")
for case in [(2, 1.0, 1.0, 2, 50.0, 1.0), (3, 0.0, 1e-8, 1000000, 1.0, 1e-8), (10, 5.0, 4.0, 12, 5.0, 9.0)]:
    na, ma, va, nb, mb, vb = case
    p = float(stats.ttest_ind_from_stats(ma, math.sqrt(va), na, mb, math.sqrt(vb), nb, equal_var=False).pvalue)
    add("welch_t_pvalue", case, p, tsource)

qsource = f"scipy {scipy.__version__} norm.ppf"
for p in [1e-300, 1e-100, 1e-20, 1e-10, 1e-5, 0.001, 0.025, 0.05, 0.1, 0.3, 0.5, 0.7, 0.9, 0.95, 0.975, 0.999, 1 - 1e-10]:
    add("normal_quantile", (repr(p),), float(stats.norm.ppf(p)), qsource)
for _ in range(50):
    p = 10 ** rng.uniform(-15, math.log10(0.999999))
    add("normal_quantile", (repr(p),), float(stats.norm.ppf(p)), qsource)

csource = f"statsmodels {statsmodels.__version__} confint_proportions_2indep(method=newcomb)"
for _ in range(150):
    na = int(10 ** rng.uniform(1, 6.5))
    nb = int(na * rng.uniform(0.5, 2)) + 1
    rate = 10 ** rng.uniform(-3, -0.05)
    xa = min(na, max(0, int(rng.gauss(na * rate, math.sqrt(na * rate) + 1) + 0.5)))
    xb = min(nb, max(0, int(rng.gauss(nb * rate * rng.uniform(0.7, 1.5), math.sqrt(nb * rate) + 1) + 0.5)))
    level = rng.choice([0.8, 0.9, 0.95, 0.95, 0.99, 0.999])
    low, high = confint_proportions_2indep(xa, na, xb, nb, method="newcomb", compare="diff", alpha=1 - level)
    add("ab_diff_low", (xa, na, xb, nb, level), float(low), csource)
    add("ab_diff_high", (xa, na, xb, nb, level), float(high), csource)

lsource = f"statsmodels {statsmodels.__version__} confint_proportions_2indep(compare=ratio method=log) minus 1"
for _ in range(100):
    na = int(10 ** rng.uniform(1.5, 6.5))
    nb = int(na * rng.uniform(0.5, 2)) + 1
    rate = 10 ** rng.uniform(-3, -0.05)
    xa = min(na, max(1, int(rng.gauss(na * rate, math.sqrt(na * rate) + 1) + 0.5)))
    xb = min(nb, max(1, int(rng.gauss(nb * rate * rng.uniform(0.7, 1.5), math.sqrt(nb * rate) + 1) + 0.5)))
    level = rng.choice([0.8, 0.9, 0.95, 0.95, 0.99, 0.999])
    low, high = confint_proportions_2indep(xa, na, xb, nb, method="log", compare="ratio", alpha=1 - level)
    add("ab_lift_low", (xa, na, xb, nb, level), float(low) - 1, lsource)
    add("ab_lift_high", (xa, na, xb, nb, level), float(high) - 1, lsource)

# solve_power stops at xtol=1e-5 users; the same power equation of
# NormalIndPower solved by brentq to 1e-15, checked against solve_power.
psource = f"statsmodels {statsmodels.__version__} NormalIndPower.power of proportion_effectsize solved by brentq"
power_of = NormalIndPower()
for _ in range(100):
    baseline = 10 ** rng.uniform(-2.5, -0.1)
    effect = baseline * rng.choice([-0.3, -0.1, -0.05, 0.02, 0.05, 0.1, 0.2, 0.5])
    effect = max(-baseline / 2, min(effect, (1 - baseline) / 2))
    alpha = rng.choice([0.01, 0.05, 0.05, 0.1])
    power = rng.choice([0.5, 0.8, 0.8, 0.9, 0.95])
    h = proportion_effectsize(baseline + effect, baseline)
    n = optimize.brentq(lambda n: power_of.power(h, n, alpha) - power, 1e-6, 1e12, xtol=1e-300, rtol=1e-15)
    assert abs(n - power_of.solve_power(h, None, alpha, power)) < 1e-4
    add("ab_sample_size", (repr(baseline), repr(effect), alpha, power), float(n), psource)

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cases.csv")
with open(path, "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["function", "a1", "a2", "a3", "a4", "a5", "a6", "a7", "expected", "source"])
    w.writerows(rows)
print(f"{len(rows)} cases written to {path}")

# Whole months, quarters and years between dates, by dateutil's
# relativedelta (months counted from the start, on the same day or the
# month's last), month ends weighted in.
import datetime

import dateutil
from dateutil.relativedelta import relativedelta

periods = []
for _ in range(600):
    start = datetime.date(2020, 1, 1) + datetime.timedelta(days=rng.randrange(0, 2500))
    if rng.random() < 0.4:  # a month's last days
        start = (start.replace(day=1) + relativedelta(months=1)) - datetime.timedelta(days=rng.randrange(1, 4))
    end = start + datetime.timedelta(days=rng.randrange(-800, 800))
    if rng.random() < 0.4:
        end = (end.replace(day=1) + relativedelta(months=1)) - datetime.timedelta(days=rng.randrange(1, 4))
    delta = relativedelta(end, start)
    months = delta.years * 12 + delta.months
    unit = rng.choice(["month", "month", "quarter", "year"])
    whole = {"month": months, "quarter": int(months / 3), "year": delta.years}[unit]
    periods.append([unit, start.isoformat(), end.isoformat(), whole])
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "periods.csv")
with open(path, "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["unit", "start", "end", f"whole periods (dateutil {dateutil.__version__} relativedelta)"])
    w.writerows(periods)
print(f"{len(periods)} cases written to {path}")
