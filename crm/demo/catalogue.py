"""Fixed parts of the demo bank: products, branches, RMs and the named demo personas."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from core.settings import PROJECT_ROOT

TOWNS_FILE = PROJECT_ROOT / "nlu_data" / "lookups" / "towns.txt"
FALLBACK_TOWNS = ["城关镇", "李家庄乡", "王集镇", "张店镇", "柳河镇", "河口镇", "石桥镇", "新集镇"]

# County seat roughly in the North China Plain; branches are scattered around it.
COUNTY_CENTRE = (34.62, 113.92)
BRANCH_COUNT = 16
RMS_PER_BRANCH = 3
DEMO_RM_PASSWORD = "bankcare-demo"  # noqa: S105 - documented demo login, seeded only in demo mode


def load_towns(path: Path = TOWNS_FILE) -> list[str]:
    if path.exists():
        towns = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        if towns:
            return towns
    return FALLBACK_TOWNS


# (code, name, kind, rate, term_months, risk_level, min, max, eligible kinds, occupations, description)
PRODUCTS: list[tuple] = [
    ("DEP-CUR", "活期存款", "deposit", "0.0010", None, None, None, None, [], [], "随存随取，按季结息"),
    ("DEP-3M", "三个月整存整取", "deposit", "0.0095", 3, None, "50", None, [], [], "50元起存"),
    ("DEP-6M", "六个月整存整取", "deposit", "0.0115", 6, None, "50", None, [], [], "50元起存"),
    ("DEP-1Y", "一年期整存整取", "deposit", "0.0135", 12, None, "50", None, [], [], "50元起存"),
    ("DEP-2Y", "两年期整存整取", "deposit", "0.0145", 24, None, "50", None, [], [], "50元起存"),
    ("DEP-3Y", "三年期整存整取", "deposit", "0.0175", 36, None, "50", None, [], [], "50元起存"),
    ("DEP-5Y", "五年期整存整取", "deposit", "0.0180", 60, None, "50", None, [], [], "50元起存"),
    ("DEP-LCD3Y", "三年期大额存单", "deposit", "0.0195", 36, None, "200000", None, [], [],
     "20万元起存，可转让，提前支取按活期计息"),
    ("DEP-DHLB", "定活两便", "deposit", "0.0081", None, None, "50", None, [], [], "存期灵活，按实际存期计息"),
    ("LN-HNL", "惠农贷", "loan", "0.0435", 12, None, "10000", "300000", ["个人"], ["种植户", "养殖户"],
     "面向种养殖户的信用贷款，随借随还，最高30万元"),
    ("LN-CYDB", "创业担保贷款", "loan", "0.0300", 24, None, "10000", "300000", ["个人", "个体工商户"],
     ["务工人员", "个体商户"], "返乡创业人员可申请，财政贴息"),
    ("LN-GTJY", "个体工商户经营贷", "loan", "0.0480", 12, None, "50000", "1000000", ["个体工商户"], [],
     "凭营业执照和经营流水申请，额度循环使用"),
    ("LN-XWLD", "小微企业流动资金贷款", "loan", "0.0420", 12, None, "100000", "5000000", ["小微企业"], [],
     "用于日常经营周转，可抵押或担保"),
    ("LN-NHXE", "农户小额信用贷款", "loan", "0.0520", 12, None, "5000", "100000", ["个人"], [],
     "凭信用评级即可申请，无需抵押"),
    ("WM-R1", "稳盈现金宝", "wealth", "0.0180", None, 1, "1", None, [], [], "R1低风险，T+0赎回"),
    ("WM-R2", "安享90天", "wealth", "0.0255", 3, 2, "10000", None, [], [], "R2中低风险，90天封闭"),
    ("WM-R3", "丰收一年期", "wealth", "0.0320", 12, 3, "10000", None, [], [], "R3中风险，一年封闭"),
    ("WM-R4", "成长精选混合", "wealth", "0.0450", None, 4, "10000", None, [], [], "R4中高风险，净值波动较大"),
    ("CARD-FN", "福农卡", "card", None, None, None, None, None, [], [], "免年费、免小额账户管理费"),
    ("CARD-SB", "社会保障卡", "card", None, None, None, None, None, [], [], "社保与金融功能合一"),
]


@dataclass(frozen=True)
class Persona:
    """A named demo customer; README lists them for trying the bot."""

    key: str
    name: str
    gender: str
    birthday: dt.date
    kind: str
    occupation: str
    town_index: int
    phone: str
    id_number: str
    openid: str  # WeChat openid (28 chars), pre-bound and verified
    web_id: str  # web chat identity, pre-bound and verified
    bound: bool = True
    balances: tuple[str, ...] = ("12345.67",)
    deposit: tuple[str, int] | None = None  # (amount, days to maturity)
    loan: tuple[str, str, int] | None = None  # (product code, principal, days to next due)
    note: str = ""
    extra: dict[str, str] = field(default_factory=dict)


PERSONAS: list[Persona] = [
    Persona("zhangjianhua", "张建华", "M", dt.date(1968, 3, 12), "个人", "种植户", 0, "17000138001",
            "411421196803124516", "oBkc9zhangjianhua0000000001", "demo-zhangjianhua",
            balances=("38652.40", "5210.00"), deposit=("50000.00", 5), loan=("LN-HNL", "80000.00", 3),
            note="种粮大户：两个账户、一笔五天后到期的定期、三天后要还的惠农贷"),
    Persona("lixiulan", "李秀兰", "F", dt.date(1957, 12, 3), "个人", "退休人员", 1, "17000139002",
            "41142119571203262X", "oBkc9lixiulan00000000000002", "demo-lixiulan",
            balances=("21580.35",), deposit=("100000.00", 40),
            note="退休教师：每月养老金入账，生日在12月3日"),
    Persona("wangzhiqiang", "王志强", "M", dt.date(1990, 7, 21), "个体工商户", "个体商户", 2, "17000150003",
            "411421199007213511", "oBkc9wangzhiqiang0000000003", "demo-wangzhiqiang",
            balances=("86420.18",), loan=("LN-GTJY", "200000.00", 12),
            note="开农资店：经营流水多，有经营贷"),
    Persona("liufang", "刘芳", "F", dt.date(1996, 9, 9), "个人", "务工人员", 3, "17000187004",
            "411421199609094329", "oBkc9liufang000000000000004", "demo-liufang",
            balances=("6890.50",), note="在外务工：工资卡、常给家里转账"),
    Persona("chenguodong", "陈国栋", "M", dt.date(1980, 1, 28), "小微企业", "小微企业主", 4, "17000136005",
            "411421198001285130", "oBkc9chenguodong00000000005", "demo-chenguodong",
            balances=("452300.00",), loan=("LN-XWLD", "1000000.00", 20),
            note="面粉加工厂老板：对公结算账户"),
    Persona("zhaoli", "赵丽", "F", dt.date(1988, 5, 16), "个人", "养殖户", 5, "17000137006",
            "411421198805166241", "oBkc9zhaoli0000000000000006", "demo-zhaoli", bound=False,
            balances=("15200.00",), note="尚未绑定：用来体验身份绑定（手机号、身份证后六位、短信验证码）"),
]
