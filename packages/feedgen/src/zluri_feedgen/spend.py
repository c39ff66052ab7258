"""Spend: budgets, cards and transactions. Every transaction is a pure function of
(seed, birth day, index), so later days recompute the versions they re-send."""

from __future__ import annotations

import base64
import json
import random
from datetime import date
from pathlib import Path
from typing import IO

from zluri_feedgen.files import ArrayFiles
from zluri_feedgen.helpdesk import FIRST_NAMES, LAST_NAMES
from zluri_feedgen.mess import Mess
from zluri_feedgen.rates import usd_rate
from zluri_feedgen.truth import truth_entry_json
from zluri_feedgen.values import (
    M48,
    b64,
    bill_token,
    encode_json,
    midnight,
    mix64,
    scramble48,
    seed_salt,
    ts_spend,
    unscramble48,
)

ZERO_DECIMAL_CURRENCIES = frozenset({"JPY", "KRW", "ISK"})
SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "INR": "₹", "JPY": "¥", "CHF": "CHF"}
UNKNOWN_CURRENCY = "XXQ"

_MERCHANTS = (
    ("Northwind Traders", "NORTHWIND TRADERS 4471", "5045"),
    ("Bluefin Cloud", "BLUEFIN*CLOUD SVCS", "7372"),
    ("Harbor Coffee", "HARBOR COFFEE #22", "5814"),
    ("Atlas Air", "ATLAS AIR 0162231", "4511"),
    ("Pine Hotel Group", "PINE HOTELS LDN", "7011"),
    ("Metro Cabs", "METRO CABS*TRIP", "4121"),
    ("Quillbox Office", "QUILLBOX OFFICE SUP", "5111"),
    ("Sparkline SaaS", "SPARKLINE.IO", "5734"),
    ("Keystone Hardware", "KEYSTONE HDWE 118", "5251"),
    ("Orbit Telecom", "ORBIT TELECOM BILL", "4814"),
    ("Lumen Learning", "LUMEN LEARNING SUB", "8299"),
    ("Copperpot Catering", "COPPERPOT CATER", "5812"),
)
_MERCHANT_JSON = tuple(
    (f'"rawMerchantName": {encode_json(raw)}, "merchantName": {encode_json(name)}', f'"merchantCategoryCode": "{mcc}"')
    for name, raw, mcc in _MERCHANTS
)
_BUDGET_WORDS = (
    "Engineering",
    "Marketing",
    "Sales",
    "Finance",
    "People",
    "IT",
    "Facilities",
    "Legal",
    "Support",
    "Research",
    "Operations",
    "Design",
)
_CARD_STATUS = ("ACTIVATED",) * 8 + ("FROZEN", "NOT_ACTIVATED")
_CARD_TYPES = ("PHYSICAL", "PHYSICAL", "VIRTUAL_MEMBER", "VIRTUAL_VENDOR")

# Transaction fates: one per (birth day, index), decided by hash.
PLAIN, DUP, UPDATE, STALE, REPEAT, FX = range(6)
BAD_NO_ID, BAD_NULL_ID, BAD_EMPTY, BAD_NAN, BAD_TEXT, BAD_CURRENCY, BAD_TIME = range(6, 13)
_BAD_REASON = {
    BAD_NO_ID: "missing_id",
    BAD_NULL_ID: "missing_id",
    BAD_EMPTY: "invalid_amount",
    BAD_NAN: "invalid_amount",
    BAD_TEXT: "invalid_amount",
    BAD_CURRENCY: "unknown_currency",
    BAD_TIME: "invalid_occurred_time",
}
_BAD_TIMES = ("not-a-timestamp", "2025-02-30T25:61:00.000+00:00", "")
V0, V_DUP, V_CLEARED, V_STALE_NEW = range(4)  # versions; V_STALE_NEW is delivered before V0
_WINNING_VERSION = {DUP: V_DUP, UPDATE: V_CLEARED, STALE: V_STALE_NEW}
_COMES_BACK = {UPDATE: "later_updates", STALE: "stale_arrivals", REPEAT: "unchanged_repeats"}
_UNIT = 1.0 / (1 << 53)


class Spend:
    def __init__(
        self, seed: int, days: int, transactions: int, currencies: tuple[str, ...], mess: Mess, dates: list[date]
    ):
        self.days, self.count, self.mess, self.dates = days, transactions, mess, dates
        self.currencies = currencies
        self.has_usd = "USD" in currencies
        self.foreign = [c for c in currencies if c != "USD"]
        self.salt = seed_salt(seed, "transactions")
        self.id_salt = seed_salt(seed, "transaction-ids")
        self.mask48 = seed_salt(seed, "mask") & M48
        # day index b (1-based) -> currency -> (rate_date, ecb quote, usd per unit)
        self.rates: list[dict[str, tuple[date, str, float]]] = [{}] + [
            {c: usd_rate(c, d) for c in currencies} for d in dates
        ]
        self.midnights = [0] + [midnight(d) for d in dates]

        rng = random.Random(f"{seed}:spend")
        n_budgets = min(2000, max(3, transactions // 100))
        n_cards = min(20000, max(5, transactions // 20))
        n_users = min(10000, max(3, n_cards // 2))
        self.users = []
        for u in range(n_users):
            name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
            self.users.append((b64(f"User:{4_200_000 + 17 * u}"), bill_token("usr_", rng.getrandbits(64)), name))
        self.budgets = []
        for b in range(n_budgets):
            name = f"{rng.choice(_BUDGET_WORDS)} {rng.choice(('Travel', 'Software', 'Events', 'Supplies', 'Ops'))}"
            if b >= len(_BUDGET_WORDS):
                name += f" {b}"
            self.budgets.append(
                (
                    b64(f"Budget:{610_000 + 7 * b}"),
                    bill_token("bgt_", rng.getrandbits(64)),
                    name,
                    rng.choice((500, 1000, 2500, 5000, 10000, 25000)),
                    rng.random() < 0.05,
                    rng.choice(("MONTHLY", "MONTHLY", "MONTHLY", "NONE", "QUARTERLY")),
                )
            )
        self.cards = []
        for c in range(n_cards):
            created = midnight(date(2023, 1, 1)) + rng.randrange(600 * 86400)
            valid_thru = f"{rng.randrange(1, 13):02d}/{rng.randrange(27, 32)}"
            self.cards.append(
                (
                    b64(f"Card:{12_500_000 + 3 * c}"),
                    bill_token("crd_", rng.getrandbits(64)),
                    f"{rng.randrange(10000):04d}",
                    rng.choice(_CARD_STATUS),
                    rng.choice(_CARD_TYPES),
                    rng.randrange(n_budgets),
                    rng.randrange(n_users),
                    created,
                    created + rng.randrange(60 * 86400),
                    valid_thru,
                    round(rng.uniform(50, 5000), 2),
                )
            )

        self._plans: dict[int, tuple] = {}
        self.truth_entries = 0
        # per card: the user, budget and card fields of its transactions, encoded once
        self.card_json = []
        for card_id, card_uuid, four, _, kind, b_idx, u_idx, *_ in self.cards:
            (user_id, user_uuid, user_name), budget = self.users[u_idx], self.budgets[b_idx]
            self.card_json.append(
                (
                    f'"userId": "{user_id}", "userUuid": "{user_uuid}", "userName": {encode_json(user_name)}',
                    f'"budgetId": "{budget[0]}", "budgetUuid": "{budget[1]}", "budgetName": {encode_json(budget[2])}',
                    f'"cardId": "{card_id}", "cardUuid": "{card_uuid}", "cardLastFour": "{four}", "cardType": "{kind}"',
                )
            )

    # -- fates and versions ------------------------------------------------------------------

    def _plan(self, b: int) -> tuple[dict[int, int], tuple[tuple[float, int], ...]]:
        """Day b's forced fates (one of each enabled kind, spread through the day so tiny feeds
        still show them) and the cumulative shares that decide all other indexes."""
        if b not in self._plans:
            m, later = self.mess, b < self.days
            shares = (
                (DUP, m.txn_duplicate),
                (UPDATE, m.txn_update * later),
                (STALE, m.txn_stale * later),
                (REPEAT, m.txn_repeat * later),
                (FX, m.fx_mismatch * bool(self.foreign)),
            )
            wanted = [fate for fate, share in shares if share > 0]
            if m.txn_bad > 0:
                wanted += range(BAD_NO_ID, BAD_TIME + 1)
            stride = max(1, self.count // max(1, len(wanted)))
            forced = {j * stride + stride // 2: fate for j, fate in enumerate(wanted[: self.count])}
            cumulative, total = [], 0.0
            for fate, share in (*shares, (BAD_NO_ID, m.txn_bad)):
                total += share
                cumulative.append((total, fate))
            self._plans[b] = forced, tuple(cumulative)
        return self._plans[b]

    def fate(self, b: int, i: int) -> tuple[int, int]:
        """(fate, key) of transaction i born on day b."""
        key = mix64(self.salt ^ ((b << 32) | i))
        forced, cumulative = self._plan(b)
        fate = forced.get(i)
        if fate is not None:
            return fate, key
        u = (key >> 11) * _UNIT
        for bound, fate in cumulative:
            if u < bound:
                return (BAD_NO_ID + key % 7 if fate == BAD_NO_ID else fate), key
        return PLAIN, key

    def _base(self, b: int, key: int, fate: int) -> tuple:
        h1, h2, h3 = mix64(key ^ 0x1111), mix64(key ^ 0x2222), mix64(key ^ 0x3333)
        if fate == FX:
            currency = self.foreign[h2 % len(self.foreign)]
        elif self.has_usd and (h2 & 0xFF) < 154:  # ~60 % USD, like a US-based spender
            currency = "USD"
        else:
            currency = self.currencies[(h2 >> 8) % len(self.currencies)]
        exponent = 0 if currency in ZERO_DECIMAL_CURRENCIES else 2
        rate = self.rates[b][currency][2]
        usd_target = 2 * 1250 ** (((h2 >> 16) & 0xFFFFF) / 0xFFFFF)  # $2..$2500, log-uniform
        minor = max(1, round(usd_target / rate * 10**exponent))
        occurred = self.midnights[b] + h3 % 86000
        if fate in (DUP, UPDATE, STALE):
            kind = "AUTHORIZATION"  # only authorisations get cleared later
        else:
            roll = (h3 >> 32) % 100
            kind = "DECLINE" if roll < 4 else "OTHER" if roll < 5 else "CLEAR" if roll < 30 else "AUTHORIZATION"
        return b, key, h1, currency, exponent, rate, minor, occurred, kind

    def _version(self, base: tuple, which: int) -> tuple[int, int, str, bool]:
        """(minor amount, updated epoch, type, complete) of one version of a transaction."""
        b, key, _, _, _, _, minor, occurred, kind = base
        h = mix64(key ^ 0x4444)
        updated = occurred + 2 + h % 40
        bump = max(1, minor * (1 + (h >> 8) % 20) // 100)  # a tip, or a final amount 1-20 % higher
        if which == V0:
            return minor, updated, kind, (h & 0x700000) == 0
        if which == V_DUP:
            return minor + bump, updated + 60 + (h >> 16) % 3000, kind, True
        if which == V_CLEARED:  # arrives the next day
            return minor + bump, self.midnights[b] + 86400 + 3600 + (h >> 16) % 70000, "CLEAR", True
        return minor + bump, updated + 7200 + (h >> 16) % 3600, "CLEAR", True  # V_STALE_NEW

    def transaction_id(self, b: int, i: int) -> str:
        hi = mix64(self.id_salt ^ ((b << 32) | i))
        low = scramble48((b << 32) | i) ^ self.mask48  # invertible: TransactionTruth looks ids up
        uuid = (
            f"{hi >> 32:08x}-{(hi >> 16) & 0xFFFF:04x}-{0x4000 | (hi & 0xFFF):04x}-"
            f"{0x8000 | ((hi >> 40) & 0x3FFF):04x}-{low:012x}"
        )
        return b64(f"Transaction:{uuid}")

    def locate(self, transaction_id: str) -> tuple[int, int] | None:
        try:
            uuid = base64.b64decode(transaction_id, validate=True).decode().removeprefix("Transaction:")
            low = unscramble48(int(uuid.rsplit("-", 1)[1], 16) ^ self.mask48)
        except (ValueError, IndexError, UnicodeDecodeError):
            return None
        b, i = low >> 32, low & 0xFFFFFFFF
        if 1 <= b <= self.days and i < self.count and self.transaction_id(b, i) == transaction_id:
            return b, i
        return None

    def _record_json(self, tid: str, base: tuple, version: tuple, fx_factor: float = 1.0) -> str:
        """One transaction as a JSON object. Hand-formatted from fragments encoded once per card
        and merchant (3x faster than json.dumps of a fresh dict); the tests parse every line."""
        _, key, h1, currency, exponent, rate, _, occurred, _ = base
        minor, updated, kind, complete = version
        user, budget, card = self.card_json[h1 % len(self.card_json)]
        merchant, mcc = _MERCHANT_JSON[(h1 >> 20) % len(_MERCHANT_JSON)]
        return (
            f'{{"id": "{tid}", "uuid": "{bill_token("txr_", key)}", "transactionType": "{kind}", {user}, {merchant}, '
            f'{budget}, "currencyData": {{"exchangeRate": {rate * fx_factor!r}, "exponent": {exponent}, '
            f'"originalCurrencyAmount": "{minor}", "originalCurrencyCode": "{currency}", '
            f'"symbol": {encode_json(SYMBOLS.get(currency, currency))}}}, "occurredTime": "{ts_spend(occurred)}", '
            f'"updatedTime": "{ts_spend(updated)}", "complete": {"true" if complete else "false"}, '
            f'"amount": {round(minor / 10**exponent * rate * fx_factor, 2)!r}, {card}, {mcc}, '
            f'"isLocked": false, "isReconciled": false}}'
        )

    @staticmethod
    def _corrupt(record: dict, fate: int, i: int) -> dict:
        data = record["currencyData"]
        if fate == BAD_NO_ID:
            del record["id"]
        elif fate == BAD_NULL_ID:
            record["id"] = None
        elif fate in (BAD_EMPTY, BAD_NAN, BAD_TEXT):
            data["originalCurrencyAmount"] = {BAD_EMPTY: "", BAD_NAN: "NaN", BAD_TEXT: "abc"}[fate]
        elif fate == BAD_CURRENCY:
            data.update(originalCurrencyCode=UNKNOWN_CURRENCY, symbol="¤")
        else:
            record["occurredTime"] = _BAD_TIMES[i % len(_BAD_TIMES)]
        return record

    @staticmethod
    def _fx_factor(key: int) -> float:
        h = mix64(key ^ 0x5555)
        off = 0.03 + (h % 1000) / 1000 * 0.12  # 3-15 %: always beyond the 2 % alarm
        return 1 + off if h & 0x10000 else 1 - off

    def winner(self, b: int, i: int) -> tuple[tuple, tuple] | None:
        """(base, version) that must end up in core.transactions, None if quarantined."""
        fate, key = self.fate(b, i)
        if fate >= BAD_NO_ID:
            return None
        base = self._base(b, key, fate)
        return base, self._version(base, _WINNING_VERSION.get(fate, V0))

    # -- one day -----------------------------------------------------------------------------

    def write_day(
        self,
        day_dir: Path,
        k: int,
        per_file: int,
        malformed: bool,
        day_truth: dict,
        fx_ids: list[str],
        truth_out: IO[str],
    ) -> None:
        """Writes day k's transactions, budgets and cards. Each transaction's final version is
        already known on its birth day, so its truth entry goes to `truth_out` right away."""
        out = ArrayFiles(day_dir / "transactions", per_file, wrapped=True)
        reasons: dict[str, int] = {}
        outcome = dict(new=0, later_updates=0, stale_arrivals=0, unchanged_repeats=0, fx_disagreements=0)
        duplicates = 0
        write, record = out.write_json, self._record_json
        for i in range(self.count):
            fate, key = self.fate(k, i)
            base = self._base(k, key, fate)
            tid = self.transaction_id(k, i)
            if fate >= BAD_NO_ID:
                bad = self._corrupt(json.loads(record(tid, base, self._version(base, V0))), fate, i)
                write(encode_json(bad))
                reasons[_BAD_REASON[fate]] = reasons.get(_BAD_REASON[fate], 0) + 1
            else:
                outcome["new"] += 1
                entry = truth_entry_json(tid, base, self._version(base, _WINNING_VERSION.get(fate, V0)))
                truth_out.write(entry if self.truth_entries == 0 else ",\n" + entry)
                self.truth_entries += 1
                if fate == DUP:
                    pair = (V0, V_DUP) if key & 1 else (V_DUP, V0)  # file order must not decide
                    write(record(tid, base, self._version(base, pair[0])))
                    write(record(tid, base, self._version(base, pair[1])))
                    duplicates += 1
                elif fate == STALE:
                    write(record(tid, base, self._version(base, V_STALE_NEW)))
                elif fate == FX:
                    write(record(tid, base, self._version(base, V0), self._fx_factor(key)))
                    fx_ids.append(tid)
                    outcome["fx_disagreements"] += 1
                else:
                    write(record(tid, base, self._version(base, V0)))
            if k > 1:  # yesterday's transactions that come back today
                prior, prior_key = self.fate(k - 1, i)
                if prior in _COMES_BACK:
                    old = self._base(k - 1, prior_key, prior)
                    write(
                        record(
                            self.transaction_id(k - 1, i), old, self._version(old, V_CLEARED if prior == UPDATE else V0)
                        )
                    )
                    outcome[_COMES_BACK[prior]] += 1
        out.close()

        if malformed:  # a page cut off mid-transfer; its ids exist nowhere else
            page = []
            for j in range(self.count, self.count + 3):
                base = self._base(k, mix64(self.salt ^ ((k << 32) | j)), PLAIN)
                page.append(json.loads(record(self.transaction_id(k, j), base, self._version(base, V0))))
            text = json.dumps({"results": page}, indent=2, ensure_ascii=False)
            name = f"{out.files + 1}.json"
            (day_dir / "transactions" / name).write_text(text[: len(text) // 2], encoding="utf-8")
            day_truth["malformed_files"].append(f"{day_dir.name}/transactions/{name}")

        day_truth["records"]["transactions"] = out.count
        day_truth["quarantined"]["transactions"] = reasons
        day_truth["duplicates"]["transactions"] = duplicates
        day_truth["transaction_outcomes"] = outcome
        self._write_budgets_and_cards(day_dir, k)
        day_truth["records"].update(budgets=len(self.budgets), cards=len(self.cards))

    def _write_budgets_and_cards(self, day_dir: Path, k: int) -> None:
        budgets = ArrayFiles(day_dir / "budgets", 1 << 62, wrapped=True)
        for n, (bid, buuid, name, limit, retired, interval) in enumerate(self.budgets):
            cleared = round(limit * ((n * 7 + k * 3) % 40) / 100, 2)  # grows day by day
            pending = round(limit * ((n + k) % 5) / 100, 2)
            budgets.write(
                {
                    "id": bid,
                    "uuid": buuid,
                    "name": name,
                    "description": f"{name} spend",
                    "retired": retired,
                    "startDate": "2025-01-01",
                    "recurringInterval": interval,
                    "timezone": "UTC",
                    "currentPeriod": {
                        "startDate": self.dates[k - 1].replace(day=1).isoformat(),
                        "limit": limit,
                        "overspendBuffer": limit // 10,
                        "assigned": 0,
                        "spent": {"cleared": cleared, "pending": pending, "total": round(cleared + pending, 2)},
                    },
                    "default": False,
                }
            )
        budgets.close()
        cards = ArrayFiles(day_dir / "cards", 1 << 62, wrapped=True)
        for n, (cid, cuuid, four, status, kind, b_idx, u_idx, created, updated, valid, cap) in enumerate(self.cards):
            budget, user = self.budgets[b_idx], self.users[u_idx]
            cards.write(
                {
                    "id": cid,
                    "uuid": cuuid,
                    "name": f"{user[2]} {kind.split('_')[-1].title()}",
                    "userId": user[0],
                    "userUuid": user[1],
                    "budgetId": budget[0],
                    "budgetUuid": budget[1],
                    "lastFour": four,
                    "validThru": valid,
                    "status": status,
                    "type": kind,
                    "currentPeriod": {"limit": cap, "spent": round(cap * ((n + k) % 10) / 20, 2)},
                    "createdTime": ts_spend(created),
                    "updatedTime": ts_spend(updated),
                }
            )
        cards.close()
