"""`bankcare demo seed`: build the deterministic demo bank.

The same (customers, seed, as_of) always gives the same bank. Small tables go through the ORM;
customers and everything they hold are generated in numpy batches and bulk-written.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
from argon2 import PasswordHasher
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from crm.access.identity import DEFAULT_POLICIES
from crm.demo import catalogue
from crm.demo.bulk import BulkWriter
from crm.demo.money import COUNTERPARTIES, timestamps, yearly_transactions
from crm.demo.people import PeopleBatch, PeopleFactory
from crm.models import Branch, ChannelIdentity, Customer, Product, RelationshipManager, utcnow
from crm.timeparse import today_in_shanghai

BATCH = 20_000
DEPOSIT_CODES = ["DEP-3M", "DEP-6M", "DEP-1Y", "DEP-2Y", "DEP-3Y", "DEP-5Y"]
LOAN_BY_OCCUPATION = {"种植户": "LN-HNL", "养殖户": "LN-HNL", "个体商户": "LN-GTJY", "小微企业主": "LN-XWLD"}
RM_SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董"
RM_GIVEN = ["晓东", "丽娟", "建军", "海燕", "志刚", "红霞", "明亮", "春梅", "国庆", "秀英", "永胜", "玉兰"]

Progress = Callable[[int], None]


@dataclass(frozen=True)
class SeedReport:
    customers: int
    accounts: int
    transactions: int
    deposits: int
    loans: int
    seconds: float


class AlreadySeeded(RuntimeError):
    pass


def _small_tables(session: Session, as_of: dt.date, rng: np.random.Generator) -> tuple[dict[str, int], int]:
    """Products, branches and RMs; returns product ids by code and the number of branches."""
    product_ids: dict[str, int] = {}
    for code, name, kind, rate, term, risk, lo, hi, kinds, occs, desc in catalogue.PRODUCTS:
        p = Product(
            code=code, name=name, kind=kind, rate=Decimal(rate) if rate else None, term_months=term,
            risk_level=risk, min_amount=Decimal(lo) if lo else None, max_amount=Decimal(hi) if hi else None,
            eligible_kinds=kinds, eligible_occupations=occs, description=desc,
        )
        session.add(p)
        session.flush()
        product_ids[code] = p.id
    towns = catalogue.load_towns()
    lat0, lon0 = catalogue.COUNTY_CENTRE
    weekday = {"weekday": ["08:30", "17:00"], "weekend": ["09:00", "16:00"]}
    weekday_only = {"weekday": ["08:30", "17:00"], "weekend": None}
    password_hash = PasswordHasher().hash(catalogue.DEMO_RM_PASSWORD)
    n_branches = min(catalogue.BRANCH_COUNT, len(towns))
    for b in range(n_branches):
        town = towns[b]
        branch = Branch(
            code=f"B{b + 1:03d}", name=f"{town}支行" if b == 0 else f"{town}分理处", town=town,
            address=f"{town}{['人民路', '建设路', '解放街', '中心街'][b % 4]}{10 + b * 7}号",
            phone=f"0394-32{b + 1:02d}8{b % 10}00",
            latitude=round(lat0 + float(rng.uniform(-0.25, 0.25)), 5),
            longitude=round(lon0 + float(rng.uniform(-0.3, 0.3)), 5),
            opening_hours=weekday if b % 3 == 0 else weekday_only,
            appointment_capacity=20 if b else 40,
        )
        session.add(branch)
        session.flush()
        for r in range(catalogue.RMS_PER_BRANCH + 1):
            idx = b * (catalogue.RMS_PER_BRANCH + 1) + r
            role = "supervisor" if r == catalogue.RMS_PER_BRANCH else "rm"
            session.add(
                RelationshipManager(
                    code=f"RM{idx + 1:03d}", name=RM_SURNAMES[idx % len(RM_SURNAMES)] + RM_GIVEN[idx % 12],
                    phone=f"1390000{idx:04d}", branch_id=branch.id, role=role,
                    login=f"{'sup' if role == 'supervisor' else 'rm'}{idx + 1:03d}", password_hash=password_hash,
                )
            )
    session.flush()
    _ = as_of
    return product_ids, n_branches


def seed_demo_bank(
    engine: Engine, customers: int = 2000, seed: int = 20261130, as_of: dt.date | None = None,
    progress: Progress | None = None,
) -> SeedReport:
    """Create the demo bank in an empty, migrated database.

    Raises:
        AlreadySeeded: the database already has customers (nothing is changed).
    """
    started = dt.datetime.now(dt.UTC)
    as_of = as_of or today_in_shanghai()  # the bank's date: "5 天后到期" holds from 00:00 Beijing time
    rng = np.random.default_rng(seed)
    customers = max(customers, len(catalogue.PERSONAS))
    with engine.begin() as conn:
        session = Session(bind=conn)
        if session.scalar(select(func.count()).select_from(Customer)):
            raise AlreadySeeded("数据库里已经有客户数据，未做任何改动 (the database already has customers)")
        writer = BulkWriter(conn)  # before any write: SQLite pragmas only apply outside a transaction
        product_ids, n_branches = _small_tables(session, as_of, rng)
        rm_ids_by_branch: dict[int, list[int]] = {}
        for rm in session.scalars(select(RelationshipManager).where(RelationshipManager.role == "rm")):
            rm_ids_by_branch.setdefault(rm.branch_id, []).append(rm.id)
        branch_ids = [b.id for b in session.scalars(select(Branch).order_by(Branch.id))]
        products = {p.code: p for p in session.scalars(select(Product))}
        session.flush()
        session.close()

        factory = PeopleFactory(seed, n_towns=len(catalogue.load_towns()))
        gen = _Generator(writer, rng, as_of, product_ids, products, branch_ids, rm_ids_by_branch, n_branches)
        gen.write_personas()
        if progress:
            progress(len(catalogue.PERSONAS))
        done = len(catalogue.PERSONAS)
        while done < customers:
            n = min(BATCH, customers - done)
            gen.write_batch(factory.batch(rng, done, n, as_of), first_id=done + 1)
            done += n
            if progress:
                progress(n)
        writer.fix_sequences(
            ["customers", "accounts", "cards", "transactions", "term_deposits", "loans", "loan_installments",
             "marketing_consents"]
        )
        session = Session(bind=conn)
        _bind_personas(session)
        session.flush()
        session.close()
    engine.dispose()  # drop connections that carry the bulk-load pragmas
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:  # back to WAL for the services that share the file
            conn.exec_driver_sql("PRAGMA journal_mode=WAL")
        engine.dispose()
    seconds = (dt.datetime.now(dt.UTC) - started).total_seconds()
    return SeedReport(customers, gen.n_accounts, gen.n_tx, gen.n_deposits, gen.n_loans, seconds)


def _bind_personas(session: Session) -> None:
    now = utcnow()
    for i, p in enumerate(catalogue.PERSONAS, start=1):
        verified = now if p.bound else None
        customer_id = i if p.bound else None
        for channel, external in (("wechat", p.openid), ("web", p.web_id)):
            # Until the channel's absolute maximum; the first message starts the idle timeout.
            until = now + DEFAULT_POLICIES.of(channel).absolute if p.bound else None
            session.add(
                ChannelIdentity(
                    channel=channel, external_id=external, customer_id=customer_id, verified_at=verified,
                    verified_until=until,
                    display_label=f"{p.name[0]}{'先生' if p.gender == 'M' else '女士'}（{p.occupation}）",
                    last_inbound_at=None,
                )
            )


class _Generator:
    """Writes customers with their accounts, cards, transactions, deposits, loans and consents."""

    def __init__(self, writer: BulkWriter, rng: np.random.Generator, as_of: dt.date, product_ids: dict[str, int],
                 products: dict[str, Product], branch_ids: list[int], rm_ids: dict[int, list[int]],
                 n_branches: int) -> None:
        self.w, self.rng, self.as_of = writer, rng, as_of
        self.product_ids, self.products = product_ids, products
        self.branch_ids, self.rm_ids, self.n_branches = branch_ids, rm_ids, n_branches
        self.n_accounts = self.n_tx = self.n_deposits = self.n_loans = self.n_installments = 0

    def write_personas(self) -> None:
        ps = catalogue.PERSONAS
        batch = PeopleBatch(
            names=[p.name for p in ps], genders=np.array([p.gender for p in ps]),
            birthdays=[p.birthday.isoformat() for p in ps],
            ages=np.array([self.as_of.year - p.birthday.year for p in ps]),
            phones=[p.phone for p in ps], id_numbers=[p.id_number for p in ps],
            kinds=np.array([p.kind for p in ps]), occupations=np.array([p.occupation for p in ps]),
            town_idx=np.array([p.town_index for p in ps]),
            villages=["前进村", "王庄村", "河湾村", "李楼村", "张寨村", "柳树村"],
            opened_on=[(self.as_of - dt.timedelta(days=3650 - 300 * i)).isoformat() for i in range(len(ps))],
        )
        self.write_batch(batch, first_id=1, personas=True)

    def write_batch(self, b: PeopleBatch, first_id: int, personas: bool = False) -> None:
        rng, n = self.rng, len(b.names)
        ids = np.arange(first_id, first_id + n)
        branch_pos = b.town_idx % self.n_branches
        branch_id = np.array(self.branch_ids)[branch_pos]
        rm_choice = rng.integers(0, 3, n)
        rm_id = [
            self.rm_ids[int(br)][int(c) % len(self.rm_ids[int(br)])]
            for br, c in zip(branch_id, rm_choice, strict=True)
        ]
        risk = np.clip(np.where(b.ages >= 60, 1, rng.integers(1, 5, n)), 1, 5)
        points = rng.integers(0, 8000, n)
        towns = catalogue.load_towns()
        self.w.write(
            "customers",
            ["id", "cif_no", "kind", "name", "gender", "birthday", "phone", "id_number", "town", "village",
             "occupation", "risk_level", "rm_id", "branch_id", "points", "opened_on", "is_demo_persona"],
            [(int(ids[i]), f"C{ids[i]:010d}", str(b.kinds[i]), b.names[i], str(b.genders[i]), b.birthdays[i],
              b.phones[i], b.id_numbers[i], towns[int(b.town_idx[i]) % len(towns)], b.villages[i],
              str(b.occupations[i]), int(risk[i]), rm_id[i], int(branch_id[i]), int(points[i]), b.opened_on[i],
              1 if personas else 0) for i in range(n)],
        )
        consent = rng.random(n) < 0.8  # marketing consent (all channels, SMS included)
        self.w.write(
            "marketing_consents", ["id", "customer_id", "channel", "granted", "source", "updated_at"],
            [(int(ids[i]), int(ids[i]), "all", 1 if (consent[i] or personas) else 0, "开户签约",
              f"{self.as_of.isoformat()} 00:00:00.000000") for i in range(n)],
        )
        # Service SMS (到期提醒, 还款提醒) signed at account opening by about nine in ten customers;
        # chosen by a hash of the id, not the generator, so the rest of the bank stays as it was.
        self.w.write(
            "sms_service_consents", ["customer_id", "granted", "source", "updated_at"],
            [(int(ids[i]), 1 if (personas or (int(ids[i]) * 2654435761) % 100 < 90) else 0, "开户签约",
              f"{self.as_of.isoformat()} 00:00:00.000000") for i in range(n)],
        )
        self._accounts(b, ids, personas)
        self._deposits(b, ids, personas)
        self._loans(b, ids, personas)

    def _accounts(self, b: PeopleBatch, ids: np.ndarray, personas: bool) -> None:
        rng, n = self.rng, len(ids)
        second = rng.random(n) < np.where(b.kinds == "个人", 0.3, 0.5)
        if personas:
            second = np.array([p.key in ("zhangjianhua",) for p in catalogue.PERSONAS])
        owners = np.concatenate([np.arange(n), np.flatnonzero(second)])
        is_second = np.concatenate([np.zeros(n, bool), np.ones(int(second.sum()), bool)])
        acc_ids = np.arange(self.n_accounts + 1, self.n_accounts + 1 + len(owners))
        self.n_accounts += len(owners)
        tx = yearly_transactions(rng, b.occupations[owners], is_second, self.as_of)
        kinds = np.where((b.kinds[owners] == "小微企业") & ~is_second, "对公结算", "活期储蓄")
        kinds = np.where((b.occupations[owners] == "退休人员") & is_second, "社保卡账户", kinds)
        self.w.write(
            "accounts", ["id", "customer_id", "account_no", "kind", "balance", "opened_on", "status"],
            [(int(a), int(ids[o]), f"62310{a:014d}", str(k), f"{fb / 100:.2f}", b.opened_on[o], "normal")
             for a, o, k, fb in zip(acc_ids.tolist(), owners.tolist(), kinds.tolist(), tx.final_balance_cents.tolist(),
                                    strict=True)],
        )
        expiry_years = rng.integers(0, 6, len(owners))
        card_kind = np.where(
            kinds == "社保卡账户", "社保卡", np.where(b.occupations[owners] == "种植户", "福农卡", "借记卡")
        )
        card_rows = [
            (int(a), int(ids[o]), int(a), f"621799{a:013d}", str(ck), "normal",
             dt.date(self.as_of.year + int(ey), (int(a) % 12) + 1, 28).isoformat())
            for a, o, ck, ey, k in zip(acc_ids.tolist(), owners.tolist(), card_kind.tolist(), expiry_years.tolist(),
                                       kinds.tolist(), strict=True) if k != "对公结算"
        ]
        self.w.write("cards", ["id", "customer_id", "account_id", "card_no", "kind", "status", "expires_on"], card_rows)
        n_tx = len(tx.amount_cents)
        tx_ids = range(self.n_tx + 1, self.n_tx + 1 + n_tx)
        self.n_tx += n_tx
        stamps = timestamps(self.as_of, tx.seconds).tolist()
        cps = [COUNTERPARTIES[c] if c >= 0 else None for c in tx.counterparty.tolist()]
        self.w.write(
            "transactions",
            ["id", "account_id", "booked_at", "amount", "balance_after", "channel", "summary", "counterparty"],
            zip(tx_ids, acc_ids[tx.account_idx].tolist(), stamps, (tx.amount_cents / 100).tolist(),
                (tx.balance_after_cents / 100).tolist(), tx.channel.tolist(), tx.summary.tolist(), cps, strict=True),
        )

    def _deposits(self, b: PeopleBatch, ids: np.ndarray, personas: bool) -> None:
        rng, n = self.rng, len(ids)
        rows = []
        has = rng.random(n) < np.where(b.ages >= 50, 0.5, 0.25)
        for i in np.flatnonzero(has).tolist() if not personas else range(n):
            days_left: int
            if personas:
                spec = catalogue.PERSONAS[i].deposit
                if spec is None:
                    continue
                amount, days_left = Decimal(spec[0]), spec[1]
                code = "DEP-1Y"
            else:
                code = DEPOSIT_CODES[int(rng.integers(0, len(DEPOSIT_CODES)))]
                amount = Decimal(int(rng.lognormal(np.log(30000), 0.8)) // 100 * 100 + 1000)
                days_left = int(rng.integers(-20, 365 * 2))
            product = self.products[code]
            months = product.term_months or 12
            maturity = self.as_of + dt.timedelta(days=days_left)
            start = maturity - dt.timedelta(days=round(months * 30.4))
            self.n_deposits += 1
            rows.append((self.n_deposits, int(ids[i]), product.id, f"D{self.n_deposits:012d}", str(amount),
                         str(product.rate), start.isoformat(), maturity.isoformat(), 1,
                         "active" if days_left >= 0 else "matured"))
        self.w.write("term_deposits", ["id", "customer_id", "product_id", "certificate_no", "amount", "rate",
                                       "start_on", "maturity_on", "auto_renew", "status"], rows)

    def _loans(self, b: PeopleBatch, ids: np.ndarray, personas: bool) -> None:
        rng, n = self.rng, len(ids)
        p_loan = np.select([b.occupations == "种植户", b.occupations == "养殖户", b.kinds == "个体工商户",
                            b.kinds == "小微企业"], [0.3, 0.35, 0.4, 0.6], 0.08)
        has = rng.random(n) < p_loan
        loans, inst = [], []
        for i in (range(n) if personas else np.flatnonzero(has).tolist()):
            if personas:
                spec = catalogue.PERSONAS[i].loan
                if spec is None:
                    continue
                code, principal, next_due_days = spec[0], Decimal(spec[1]), spec[2]
            else:
                code = LOAN_BY_OCCUPATION.get(str(b.occupations[i]), "LN-NHXE")
                hi = float(self.products[code].max_amount or 100000)
                principal = Decimal(int(rng.uniform(0.05, 0.6) * hi) // 1000 * 1000 + 5000)
                next_due_days = int(rng.integers(0, 30))
            product = self.products[code]
            terms = 12 if code != "LN-CYDB" else 24
            paid_terms = int(rng.integers(0, terms - 1)) if not personas else 4
            first_due = self.as_of + dt.timedelta(days=next_due_days) - dt.timedelta(days=30 * paid_terms)
            per = (principal / terms).quantize(Decimal("0.01"))
            self.n_loans += 1
            outstanding = principal - per * paid_terms
            loans.append((self.n_loans, int(ids[i]), product.id, f"L{self.n_loans:012d}", str(principal),
                          str(outstanding), str(product.rate), (first_due - dt.timedelta(days=30)).isoformat(),
                          (first_due + dt.timedelta(days=30 * (terms - 1))).isoformat(), "active"))
            remaining = principal
            for seq in range(terms):
                due = first_due + dt.timedelta(days=30 * seq)
                part = per if seq < terms - 1 else principal - per * (terms - 1)
                interest = (remaining * (product.rate or Decimal(0)) / 12).quantize(Decimal("0.01"))
                remaining -= part
                self.n_installments += 1
                inst.append((self.n_installments, self.n_loans, seq + 1, due.isoformat(), str(part), str(interest),
                             due.isoformat() if seq < paid_terms else None))
        self.w.write("loans", ["id", "customer_id", "product_id", "contract_no", "principal", "outstanding", "rate",
                               "start_on", "end_on", "status"], loans)
        self.w.write("loan_installments", ["id", "loan_id", "seq", "due_on", "principal", "interest", "paid_on"], inst)


def demo_identities() -> list[dict[str, str]]:
    """Demo personas for the web chat picker (no personal data beyond a salutation)."""
    return [
        {"web_id": p.web_id, "label": f"{p.name[0]}{'先生' if p.gender == 'M' else '女士'}", "note": p.note,
         "bound": json.dumps(p.bound)}
        for p in catalogue.PERSONAS
    ]
