"""Vectorised generation of rural customers (names, phones, ID numbers, occupations)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
from faker import Faker

# Surnames weighted roughly as in rural North China.
SURNAMES = list("王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎")
SURNAME_WEIGHTS = np.array([7.3, 7.2, 7.0, 5.4, 4.6, 3.1, 2.3, 2.2, 2.1, 2.0] + [1.0] * (len(SURNAMES) - 10))
VILLAGE_SUFFIX = ["庄村", "营村", "寨村", "湾村", "楼村", "屯村", "店村", "岗村", "集村", "沟村"]
PHONE_PREFIXES = ["138", "139", "150", "151", "158", "159", "136", "135", "187", "188", "182", "183", "177", "199"]
REGION_CODES = ["411421", "411422", "411423", "411424", "411425", "411426"]
ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
ID_CHECK = "10X98765432"

KINDS = np.array(["个人", "个体工商户", "小微企业"])
KIND_P = [0.85, 0.11, 0.04]
PERSONAL_OCCUPATIONS = np.array(["种植户", "养殖户", "务工人员", "退休人员", "教师", "村干部", "其他"])
PERSONAL_OCC_P = [0.33, 0.12, 0.22, 0.18, 0.04, 0.02, 0.09]


def id_check_digit(first17: str) -> str:
    return ID_CHECK[sum(int(c) * w for c, w in zip(first17, ID_WEIGHTS, strict=True)) % 11]


@dataclass
class PeopleBatch:
    names: list[str]
    genders: np.ndarray
    birthdays: list[str]
    ages: np.ndarray
    phones: list[str]
    id_numbers: list[str]
    kinds: np.ndarray
    occupations: np.ndarray
    town_idx: np.ndarray
    villages: list[str]
    opened_on: list[str]


class PeopleFactory:
    """Makes batches of customers; the same seed gives the same people."""

    def __init__(self, seed: int, n_towns: int) -> None:
        fake = Faker("zh_CN")
        fake.seed_instance(seed)
        self.male_given = sorted({fake.first_name_male() for _ in range(600)})
        self.female_given = sorted({fake.first_name_female() for _ in range(600)})
        self.n_towns = n_towns
        self.surname_p = SURNAME_WEIGHTS / SURNAME_WEIGHTS.sum()

    def batch(self, rng: np.random.Generator, first_index: int, n: int, as_of: dt.date) -> PeopleBatch:
        kinds = rng.choice(KINDS, size=n, p=KIND_P)
        occupations = rng.choice(PERSONAL_OCCUPATIONS, size=n, p=PERSONAL_OCC_P).astype("<U8")
        occupations[kinds == "个体工商户"] = "个体商户"
        occupations[kinds == "小微企业"] = "小微企业主"
        male_p = np.where(kinds == "小微企业", 0.7, 0.5)
        genders = np.where(rng.random(n) < male_p, "M", "F")
        ages = np.where(occupations == "退休人员", rng.integers(60, 86, n), rng.integers(20, 62, n))
        day_offsets = rng.integers(0, 365, n)
        surnames = rng.choice(len(SURNAMES), size=n, p=self.surname_p)
        male_idx = rng.integers(0, len(self.male_given), n)
        female_idx = rng.integers(0, len(self.female_given), n)
        towns = rng.integers(0, self.n_towns, n)
        village_sur = rng.integers(0, len(SURNAMES), n)
        village_suf = rng.integers(0, len(VILLAGE_SUFFIX), n)
        opened_days = rng.integers(30, 365 * 20, n)
        seq = rng.integers(0, 1000, n)

        gidx = np.arange(first_index, first_index + n)
        given = np.where(
            genders == "M",
            np.array(self.male_given)[male_idx],
            np.array(self.female_given)[female_idx],
        )
        names = np.char.add(np.array(SURNAMES)[surnames], given).tolist()
        birth = np.array([f"{as_of.year}-01-01"], dtype="datetime64[D]") - (ages * 365.25).astype("timedelta64[D]")
        birth = birth + day_offsets.astype("timedelta64[D]")
        birthdays = np.datetime_as_string(birth, unit="D")
        n_prefix = len(PHONE_PREFIXES)
        # A bijection on 8-digit suffixes keeps phones unique for up to 10^8 customers per prefix.
        suffix = ((gidx // n_prefix) * 7_919_357 + 1_234_567) % 100_000_000
        phones = np.char.add(np.array(PHONE_PREFIXES)[gidx % n_prefix], np.char.zfill(suffix.astype(str), 8))
        # ID numbers: odd 17th digit for men, even for women, as on real cards.
        s = seq // 2 * 2 + (genders == "M")
        first17 = np.char.add(
            np.char.add(np.array(REGION_CODES)[gidx % len(REGION_CODES)], np.char.replace(birthdays, "-", "")),
            np.char.zfill((s % 1000).astype(str), 3),
        )
        digits = first17.astype("<U17").view("<U1").reshape(n, 17).astype(np.int64) if n else np.zeros((0, 17))
        checks = np.array(list(ID_CHECK))[(digits @ np.array(ID_WEIGHTS)) % 11]
        ids = np.char.add(first17, checks).tolist()
        villages = np.char.add(np.array(SURNAMES)[village_sur], np.array(VILLAGE_SUFFIX)[village_suf]).tolist()
        opened = np.datetime_as_string(np.datetime64(as_of) - opened_days.astype("timedelta64[D]"), unit="D")
        birthdays_l = birthdays.tolist()
        phones_l = phones.tolist()
        opened_l = opened.tolist()
        return PeopleBatch(
            names, genders, birthdays_l, ages, phones_l, ids, kinds, occupations, towns, villages, opened_l
        )
