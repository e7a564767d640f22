"""HTML for the operator dashboard. Every value is escaped; pages are read-only."""

from __future__ import annotations

from html import escape
from urllib.parse import urlencode

from tally.core.clock import format_timestamp
from tally.core.ledger.amounts import major_string
from tally.core.ledger.records import BalanceRecord, LedgerRecord, TransactionRecord
from tally.store.dashboard_repo import Overview

STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:10px 24px;display:flex;gap:20px;align-items:center}
header a{color:#cfd6e4;text-decoration:none}header a:hover{color:#fff}
header strong{font-size:16px;margin-right:12px}
main{padding:20px 24px}h1{font-size:20px;margin:0 0 14px}
table{border-collapse:collapse;background:#fff;width:100%;margin-bottom:20px}
th,td{text-align:left;padding:6px 10px;border-bottom:1px solid #e6e8ec;white-space:nowrap}
th{background:#eef0f4;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#137333}.bad{color:#b3261e;font-weight:600}.cards{display:flex;gap:14px;margin-bottom:20px}
.card{background:#fff;padding:12px 18px;border:1px solid #e6e8ec;border-radius:6px}
.card b{display:block;font-size:22px}form{margin-bottom:14px}input,select{padding:4px}
code{font-size:12px}
"""

NAV = [
    ("Overview", "/dashboard"),
    ("Ledgers", "/dashboard/ledgers"),
    ("Balances", "/dashboard/balances"),
    ("Transactions", "/dashboard/transactions"),
    ("Events", "/dashboard/events"),
]


def page(title: str, body: str) -> str:
    links = "".join(f'<a href="{href}">{name}</a>' for name, href in NAV)
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{escape(title)} · Tally</title><style>{STYLE}</style></head>"
        f"<body><header><strong>Tally</strong>{links}</header><main>"
        f"<h1>{escape(title)}</h1>{body}</main></body></html>"
    )


def _table(headers: list[str], rows: list[list[str]], *, numeric: set[int] | None = None) -> str:
    numeric = numeric or set()
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{cell}</td>' if i in numeric else f"<td>{cell}</td>"
            for i, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    if not rows:
        body = f'<tr><td colspan="{len(headers)}">Nothing yet.</td></tr>'
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _link(href: str, text: str) -> str:
    return f'<a href="{escape(href)}">{escape(text)}</a>'


def overview_page(data: Overview) -> str:
    cards = "".join(
        f'<div class="card">{escape(label)}'
        f'<b data-count="{escape(label.lower())}">{value}</b></div>'
        for label, value in (
            ("Ledgers", data.ledgers),
            ("Balances", data.balances),
            ("Transactions", data.transactions),
            ("Events", data.events),
        )
    )
    rows = []
    for c in data.currencies:
        ok = c.total == 0 and c.inflight_total == 0
        verdict = (
            '<span class="ok">sums to zero</span>'
            if ok
            else ('<span class="bad">OUT OF BALANCE</span>')
        )
        rows.append(
            [escape(c.currency), str(c.balances), str(c.total), str(c.inflight_total), verdict]
        )
    table = _table(
        ["Currency", "Balances", "Σ balance", "Σ inflight", "Check"], rows, numeric={1, 2, 3}
    )
    return page("Overview", f'<div class="cards">{cards}</div><h2>Currencies</h2>{table}')


def ledgers_page(items: list[LedgerRecord]) -> str:
    rows = [
        [
            _link(f"/dashboard/balances?ledger={x.ledger_id}", x.name),
            f"<code>{escape(x.ledger_id)}</code>",
            escape(format_timestamp(x.created_at)),
        ]
        for x in items
    ]
    return page("Ledgers", _table(["Name", "Ledger", "Created"], rows))


def balances_page(items: list[BalanceRecord], *, ledger: str, currency: str) -> str:
    form = (
        '<form method="get">'
        f'<input name="ledger" placeholder="ledger id" value="{escape(ledger)}"> '
        f'<input name="currency" placeholder="currency" value="{escape(currency)}"> '
        "<button>Filter</button></form>"
    )
    rows = [
        [
            _link(f"/dashboard/balances/{b.balance_id}", b.indicator or b.balance_id),
            escape(b.currency),
            str(b.balance),
            str(b.inflight_debit_balance),
            str(b.balance - b.inflight_debit_balance),
            str(b.version),
        ]
        for b in items
    ]
    table = _table(
        ["Balance", "Currency", "Balance", "Held", "Available", "Version"],
        rows,
        numeric={2, 3, 4, 5},
    )
    return page("Balances", form + table)


def transactions_table(items: list[TransactionRecord]) -> str:
    rows = [
        [
            f"<code>{escape(x.transaction_id)}</code>",
            escape(x.reference),
            escape(x.status),
            escape(x.kind),
            major_string(x.precise_amount, x.precision),
            escape(x.currency),
            _link(f"/dashboard/balances/{x.source}", x.source[:12] + "…"),
            _link(f"/dashboard/balances/{x.destination}", x.destination[:12] + "…"),
            escape(format_timestamp(x.created_at)),
        ]
        for x in items
    ]
    headers = [
        "Transaction",
        "Reference",
        "Status",
        "Kind",
        "Amount",
        "Currency",
        "From",
        "To",
        "Created",
    ]
    return _table(headers, rows, numeric={4})


def transactions_page(
    items: list[TransactionRecord], *, status: str, offset: int, limit: int
) -> str:
    options = "".join(
        f"<option{' selected' if s == status else ''}>{s}</option>"
        for s in ("", "APPLIED", "INFLIGHT", "VOID", "SCHEDULED", "REJECTED")
    )
    form = (
        f'<form method="get"><select name="status">{options}</select> '
        "<button>Filter</button></form>"
    )
    nav = ""
    if len(items) == limit:
        query = urlencode({"status": status, "offset": offset + limit})
        nav = _link(f"/dashboard/transactions?{query}", "Older →")
    return page("Transactions", form + transactions_table(items) + nav)


def balance_page(balance: BalanceRecord, items: list[TransactionRecord]) -> str:
    facts = _table(
        ["Field", "Value"],
        [
            ["balance_id", f"<code>{escape(balance.balance_id)}</code>"],
            ["ledger", _link(f"/dashboard/balances?ledger={balance.ledger_id}", balance.ledger_id)],
            ["indicator", escape(balance.indicator or "")],
            ["currency", escape(balance.currency)],
            ["balance", f'<span data-field="balance">{balance.balance}</span>'],
            ["credit / debit", f"{balance.credit_balance} / {balance.debit_balance}"],
            [
                "inflight credit / debit",
                f"{balance.inflight_credit_balance} / {balance.inflight_debit_balance}",
            ],
            ["available", str(balance.balance - balance.inflight_debit_balance)],
            ["version", str(balance.version)],
        ],
    )
    return page(
        f"Balance {balance.indicator or balance.balance_id}",
        facts + "<h2>Transactions</h2>" + transactions_table(items),
    )


def events_page(items: list[tuple[str, str, str]]) -> str:
    rows = [
        [f"<code>{escape(e)}</code>", escape(kind), f"<code>{escape(subject)}</code>"]
        for e, kind, subject in items
    ]
    return page("Events", _table(["Event", "Type", "Subject"], rows))


def login_page(error: str = "") -> str:
    message = f'<p class="bad">{escape(error)}</p>' if error else ""
    form = (
        '<form method="post" action="/dashboard/login">'
        '<input type="password" name="key" placeholder="master key" autocomplete="off"> '
        "<button>Sign in</button></form>"
    )
    return page("Sign in", message + form)
