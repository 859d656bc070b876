"""Simulated customers: a realistic mix of intents and multi-turn flows (rural-bank WeChat traffic)."""

from __future__ import annotations

import random

# (weight, turns). Weights follow what a rural bank's account sees: greetings, product and service
# questions (FAQ) dominate, account queries need binding first, a few multi-turn service flows.
FLOWS: list[tuple[int, list[str]]] = [
    (14, ["你好", "一年定期利息多少", "谢谢"]),
    (12, ["我卡里还有多少钱", "绑定账户"]),
    (10, ["种地的能贷款不", "惠农贷要啥材料", "好的谢谢"]),
    (10, ["最近的网点在哪", "周六开门吗"]),
    (8, ["手机银行密码忘了咋办", "再见"]),
    (8, ["有啥理财", "风险大不大"]),
    (8, ["卡丢了咋整", "取消"]),
    (6, ["明天上午去城关镇网点办开户", "取消"]),
    (6, ["查下上个月的流水"]),
    (6, ["贷款还欠多少 啥时候还"]),
    (6, ["在吗", "我想问下社保卡激活"]),
    (6, ["转账限额是多少", "怎么提高"]),
]


def pick_flow(rng: random.Random) -> list[str]:
    weights = [w for w, _ in FLOWS]
    return list(rng.choices([turns for _, turns in FLOWS], weights=weights)[0])


def messages(rng: random.Random) -> list[str]:
    """All distinct customer texts (for measuring Rasa's NLU alone on the same mix)."""
    del rng
    return [t for _, turns in FLOWS for t in turns]
