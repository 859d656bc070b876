"""Vectorised money flows: a year of transactions with farm seasons, wages and pensions."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

# Per occupation: yearly transaction rate on the main account, income share, income (summary,
# channel, lognormal median, sigma), and month weights for income (harvest seasons for farmers).
FLAT = np.ones(12)
HARVEST = np.array([1, 1, 1, 1, 2, 8, 2, 1, 6, 8, 3, 1], dtype=float)  # 麦收 6月, 秋收 9–10月
LIVESTOCK = np.array([3, 4, 1, 1, 1, 1, 1, 1, 1, 2, 2, 4], dtype=float)  # 节前出栏
MIGRANT = np.array([4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3], dtype=float)  # 年底结薪

PROFILES: dict[str, tuple[float, float, str, str, float, float, np.ndarray]] = {
    "种植户": (14, 0.35, "粮食收购款", "转账", 18000, 0.6, HARVEST),
    "养殖户": (18, 0.40, "生猪销售款", "转账", 12000, 0.7, LIVESTOCK),
    "务工人员": (26, 0.45, "工资", "代发", 5200, 0.3, MIGRANT),
    "退休人员": (20, 0.55, "养老金", "代发", 2600, 0.3, FLAT),
    "教师": (22, 0.50, "工资", "代发", 5600, 0.2, FLAT),
    "村干部": (20, 0.50, "工资", "代发", 3800, 0.2, FLAT),
    "其他": (16, 0.45, "转账收入", "手机银行", 3000, 0.8, FLAT),
    "个体商户": (60, 0.55, "扫码收款", "POS", 900, 0.9, FLAT),
    "小微企业主": (70, 0.50, "货款", "转账", 30000, 0.9, FLAT),
}
EXPENSES = [  # (summary, channel, median, sigma, weight)
    ("取现", "助农取款点", 800, 0.6, 0.30),
    ("取现", "ATM", 1000, 0.6, 0.12),
    ("转账", "手机银行", 2000, 0.9, 0.25),
    ("消费", "POS", 260, 0.8, 0.18),
    ("水电费", "手机银行", 120, 0.4, 0.08),
    ("农资采购", "POS", 3500, 0.6, 0.07),
]
EXP_P = np.array([e[4] for e in EXPENSES]) / sum(e[4] for e in EXPENSES)
EXP_SUMMARY = np.array([e[0] for e in EXPENSES])
EXP_CHANNEL = np.array([e[1] for e in EXPENSES])
EXP_MEDIAN = np.array([e[2] for e in EXPENSES], dtype=float)
EXP_SIGMA = np.array([e[3] for e in EXPENSES], dtype=float)
COUNTERPARTIES = [
    "王建国", "李红梅", "张伟", "刘洋", "县粮食收购站", "富民农资店", "陈小燕", "赵大勇", "杨桂英", "周立新",
]

@dataclass
class TxBatch:
    account_idx: np.ndarray  # index into the batch's accounts, sorted with time
    seconds: np.ndarray  # seconds since window start (UTC)
    amount_cents: np.ndarray
    balance_after_cents: np.ndarray
    summary: np.ndarray
    channel: np.ndarray
    counterparty: np.ndarray  # index into COUNTERPARTIES or -1
    final_balance_cents: np.ndarray  # per account


def yearly_transactions(
    rng: np.random.Generator, occupations: np.ndarray, secondary: np.ndarray, as_of: dt.date
) -> TxBatch:
    """Transactions for the 12 months before ``as_of`` for one batch of accounts.

    ``occupations`` is the owner's occupation per account; ``secondary`` marks second accounts,
    which see far less traffic. Balances never go negative: the opening balance covers the dip.
    """
    n_acc = len(occupations)
    rates = np.array([PROFILES[o][0] for o in occupations]) * np.where(secondary, 0.2, 1.0)
    counts = rng.poisson(rates)
    total = int(counts.sum())
    acc = np.repeat(np.arange(n_acc), counts)
    occ = occupations[acc]
    income_share = np.array([PROFILES[o][1] for o in occupations])[acc]
    is_income = rng.random(total) < income_share

    # Month of each transaction: seasonal for income, flat for expenses.
    month = rng.integers(0, 12, total)
    # Window month i covers roughly start + i·30.4 days; seasonal weights are by calendar month.
    start = as_of - dt.timedelta(days=365)
    calendar = [(start + dt.timedelta(days=round(i * 30.4) + 15)).month - 1 for i in range(12)]
    for name, profile in PROFILES.items():
        weights = profile[6]
        if weights is FLAT:
            continue
        sel = np.flatnonzero(is_income & (occ == name))
        window_weights = weights[calendar]
        month[sel] = rng.choice(12, size=len(sel), p=window_weights / window_weights.sum())
    # month 0 = the oldest month of the window; a random day and a daytime hour (08–20 local)
    # Whole days for the month's start (365/12 days in seconds would shift the hour by 10 h a month
    # and put transactions at 3 a.m. Beijing time).
    days = np.minimum((month * 365) // 12 + rng.integers(0, 31, total), 364)  # up to yesterday
    seconds = days * 86400 + rng.integers(0, 12 * 3600, total)
    seconds = np.minimum(seconds, 365 * 86400 - 1)

    amounts = np.empty(total)
    summary = np.empty(total, dtype="<U8")
    channel = np.empty(total, dtype="<U8")
    inc = np.flatnonzero(is_income)
    for name, (_, _, summ, chan, median, sigma, _) in PROFILES.items():
        sel = inc[occ[inc] == name]
        amounts[sel] = rng.lognormal(np.log(median), sigma, len(sel))
        summary[sel] = summ
        channel[sel] = chan
    exp = np.flatnonzero(~is_income)
    kind = rng.choice(len(EXPENSES), size=len(exp), p=EXP_P)
    amounts[exp] = -rng.lognormal(np.log(EXP_MEDIAN[kind]), EXP_SIGMA[kind])
    summary[exp] = EXP_SUMMARY[kind]
    channel[exp] = EXP_CHANNEL[kind]
    cents = np.round(amounts * 100).astype(np.int64)
    cents[(cents < 1000) & (cents > -1000) & (summary == "取现")] = -10000

    counterparty = np.where(
        (summary == "转账") | (summary == "转账收入") | (summary == "粮食收购款"),
        rng.integers(0, len(COUNTERPARTIES), total),
        -1,
    )

    order = np.lexsort((seconds, acc))
    acc, seconds, cents = acc[order], seconds[order], cents[order]
    summary, channel, counterparty = summary[order], channel[order], counterparty[order]
    running = np.cumsum(cents)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    has_tx = counts > 0
    before = np.zeros(n_acc, dtype=np.int64)
    before[has_tx] = running[starts[has_tx]] - cents[starts[has_tx]]
    running = running - np.repeat(before, counts)
    min_prefix = np.zeros(n_acc, dtype=np.int64)
    if total:
        min_prefix[has_tx] = np.minimum.reduceat(running, starts[has_tx])
    cushion = np.round(rng.lognormal(np.log(3000), 1.0, n_acc) * 100).astype(np.int64)
    opening = np.maximum(0, -min_prefix) + cushion
    balance_after = running + np.repeat(opening, counts)
    sums = np.zeros(n_acc, dtype=np.int64)
    if total:
        sums[has_tx] = np.add.reduceat(cents, starts[has_tx])
    final = opening + sums
    return TxBatch(acc, seconds, cents, balance_after, summary, channel, counterparty, final)


def timestamps(as_of: dt.date, seconds: np.ndarray) -> np.ndarray:
    """Seconds into the window → 'YYYY-MM-DD HH:MM:SS.000000' UTC strings (SQLAlchemy's SQLite form)."""
    local_start = np.datetime64(as_of - dt.timedelta(days=365)) + np.timedelta64(8 * 3600, "s")
    utc = local_start + seconds.astype("timedelta64[s]") - np.timedelta64(8 * 3600, "s")
    text = np.datetime_as_string(utc.astype("datetime64[us]"), unit="us")
    chars = text.astype("<U26").view("<U1").reshape(-1, 26).copy()
    chars[:, 10] = " "
    return chars.view("<U26").ravel()
