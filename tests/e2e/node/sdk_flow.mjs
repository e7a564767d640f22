// Drives Blnk's official TypeScript SDK (@blnkfinance/blnk-typescript 1.3.0) against a Tally
// server. Reads TALLY_BASE_URL and TALLY_TAG (unique suffix for names and references), runs a
// ledger flow, and prints one JSON document on its last line: {steps: {name: {status, code,
// message, data}}}. The Python test asserts on it; this script only records.
import blnkSdk from "@blnkfinance/blnk-typescript";

const { BlnkInit } = blnkSdk;
const baseUrl = process.env.TALLY_BASE_URL;
const tag = process.env.TALLY_TAG;
if (!baseUrl || !tag) {
  throw new Error("TALLY_BASE_URL and TALLY_TAG are required");
}

const logLines = [];
const quietLogger = {
  info: (message) => logLines.push(`INFO ${message}`),
  error: (message) => logLines.push(`ERROR ${message}`),
  debug: (message) => logLines.push(`DEBUG ${message}`),
};
const blnk = BlnkInit("", { baseUrl, timeout: 30000, logger: quietLogger });
const steps = {};

async function step(name, call) {
  const response = await call;
  steps[name] = {
    status: response.status,
    code: response.error ? response.error.code : null,
    message: response.message,
    data: response.data,
  };
  return response.data;
}

function usd(amount, reference, source, destination, extra = {}) {
  return {
    amount,
    precision: 100,
    currency: "USD",
    reference,
    description: "ts sdk",
    source,
    destination,
    skip_queue: true,
    ...extra,
  };
}

const ids = {};

async function flow() {
  const { Ledgers, LedgerBalances, Transactions, Metadata, Search, System } = blnk;

  await step("health", System.health());

  // ---- ledgers and balances
  const ledger = await step(
    "ledger_create",
    Ledgers.create({ name: `TS ledger ${tag}`, meta_data: { sdk: "typescript" } }),
  );
  await step("ledger_get", Ledgers.get(ledger.ledger_id));
  await step("ledger_update", Ledgers.update(ledger.ledger_id, { name: `TS renamed ${tag}` }));
  const alice = await step(
    "balance_create",
    LedgerBalances.create({ ledger_id: ledger.ledger_id, currency: "USD", meta_data: { who: "alice" } }),
  );
  const bob = await step(
    "balance_create_2",
    LedgerBalances.create({ ledger_id: ledger.ledger_id, currency: "USD" }),
  );
  Object.assign(ids, { ledger: ledger.ledger_id, alice: alice.balance_id, bob: bob.balance_id });
  const fundSource = `@TsFund${tag}`;
  await step(
    "fund",
    Transactions.create(usd(100, `ts-fund-${tag}`, fundSource, alice.balance_id, { allow_overdraft: true })),
  );
  await step("indicator_get", LedgerBalances.getByIndicator(fundSource, "USD"));
  await step(
    "gl_indicator_create",
    LedgerBalances.create({ ledger_id: "general_ledger_id", currency: "USD", indicator: `@TsGl${tag}` }),
  );
  await step(
    "gl_indicator_duplicate",
    LedgerBalances.create({ ledger_id: "general_ledger_id", currency: "USD", indicator: `@TsGl${tag}` }),
  );

  // ---- inflight: partial commits, commit too much, void, commit after void
  const hold = await step(
    "hold",
    Transactions.create(usd(80, `ts-hold-${tag}`, alice.balance_id, bob.balance_id, { inflight: true })),
  );
  ids.hold = hold.transaction_id;
  await step("balance_during_hold", LedgerBalances.get(alice.balance_id));
  await step(
    "commit_partial_amount",
    Transactions.updateStatus(hold.transaction_id, { status: "commit", amount: 30, skip_queue: true }),
  );
  await step(
    "commit_partial_precise",
    Transactions.updateStatus(hold.transaction_id, { status: "commit", precise_amount: 1000, skip_queue: true }),
  );
  await step(
    "commit_exceeded",
    Transactions.updateStatus(hold.transaction_id, { status: "commit", amount: 60 }),
  );
  await step("void", Transactions.updateStatus(hold.transaction_id, { status: "void", skip_queue: true }));
  await step("commit_after_void", Transactions.updateStatus(hold.transaction_id, { status: "commit" }));
  const hold2 = await step(
    "hold_2",
    Transactions.create(usd(5, `ts-hold2-${tag}`, alice.balance_id, bob.balance_id, { inflight: true })),
  );
  await step("commit_full", Transactions.updateStatus(hold2.transaction_id, { status: "commit" }));
  await step("commit_again", Transactions.updateStatus(hold2.transaction_id, { status: "commit" }));

  // ---- refunds, lookups
  const paid = await step(
    "pay",
    Transactions.create(usd(7.5, `ts/pay ${tag}`, alice.balance_id, bob.balance_id, { meta_data: { order: tag } })),
  );
  ids.paid = paid.transaction_id;
  await step("get", Transactions.get(paid.transaction_id));
  await step("get_by_reference", Transactions.getByReference(`ts/pay ${tag}`));
  await step("refund", Transactions.refund(paid.transaction_id));
  await step("refund_again", Transactions.refund(paid.transaction_id, { skip_queue: true }));

  // ---- bulk
  await step(
    "bulk_atomic",
    Transactions.createBulk({
      atomic: true,
      inflight: true,
      skip_queue: true,
      transactions: [
        usd(1, `ts-bulk-1-${tag}`, alice.balance_id, bob.balance_id),
        usd(2, `ts-bulk-2-${tag}`, alice.balance_id, bob.balance_id),
      ],
    }),
  );
  const bulk1 = await step("bulk_item_1", Transactions.getByReference(`ts-bulk-1-${tag}`));
  const bulk2 = await step("bulk_item_2", Transactions.getByReference(`ts-bulk-2-${tag}`));
  await step(
    "bulk_commit",
    Transactions.bulkCommitInflight({ transactions: [{ transaction_id: bulk1.transaction_id }], skip_queue: true }),
  );
  await step("bulk_void", Transactions.bulkVoidInflight({ transaction_ids: [bulk2.transaction_id] }));

  // ---- metadata
  await step("meta_ledger", Metadata.update(ledger.ledger_id, { meta_data: { region: "eu" } }));
  await step("meta_balance", Metadata.update(alice.balance_id, { meta_data: { tier: "gold" } }));
  await step("meta_transaction", Metadata.update(paid.transaction_id, { meta_data: { checked: true } }));
  await step("get_after_meta", Transactions.get(paid.transaction_id));

  // ---- history
  await step(
    "backdated",
    Transactions.create(
      usd(3, `ts-backdated-${tag}`, "@World", bob.balance_id, {
        allow_overdraft: true,
        effective_date: "2025-02-15T10:30:00Z",
      }),
    ),
  );
  await step("at_before", LedgerBalances.getAt(bob.balance_id, { timestamp: "2025-02-15T10:00:00Z" }));
  await step("at_after", LedgerBalances.getAt(bob.balance_id, { timestamp: "2025-02-15T11:30:00+01:00" }));

  // ---- errors
  await step("err_ledger", Ledgers.get("ldg_00000000-0000-4000-8000-000000000000"));
  await step("err_balance", LedgerBalances.get("bln_00000000-0000-4000-8000-000000000000"));
  await step("err_txn", Transactions.get("txn_00000000-0000-4000-8000-000000000000"));
  await step("err_duplicate", Transactions.create(usd(1, `ts-hold-${tag}`, alice.balance_id, bob.balance_id)));
  await step(
    "err_funds",
    Transactions.create(usd(10000, `ts-too-much-${tag}`, alice.balance_id, bob.balance_id)),
  );
  await step("err_reference", Transactions.getByReference(`ts-too-much-${tag}`));

  await step("final_alice", LedgerBalances.get(alice.balance_id));
  await step("final_bob", LedgerBalances.get(bob.balance_id));

  // ---- search and filter (the TS SDK has no list calls)
  await step(
    "search",
    Search.search(
      { q: `ts-hold-${tag}`, query_by: "reference", filter_by: "currency:=USD", page: 1, per_page: 10 },
      "transactions",
    ),
  );
  await step(
    "filter",
    Search.filter(
      {
        filters: [
          { field: "balance_id", operator: "eq", value: alice.balance_id },
          { field: "status", operator: "in", values: ["INFLIGHT"] },
        ],
        logical_operator: "and",
        sort_by: "created_at",
        sort_order: "desc",
        limit: 10,
        offset: 0,
        include_count: true,
      },
      "transactions",
    ),
  );
}

let failure = null;
try {
  await flow();
} catch (error) {
  failure = String(error && error.stack ? error.stack : error);
}
console.log(JSON.stringify({ steps, ids, failure, log: logLines }));
