"""Parsing list parameters, filter bodies and Typesense searches into the query model."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tally.core.errors import BadRequest, TallyError, ValidationFailed
from tally.core.ledger.query import (
    Filter,
    Group,
    Query,
    SearchQueryInvalid,
    Sort,
    contains_pattern,
    parse_filter_body,
    parse_query_params,
    parse_search,
)
from tally.core.ledger.query_fields import Moment
from tally.core.ledger.typesense import Clause, Item, Junction, parse_filter_by, parse_sort_by

MARCH_1 = datetime(2026, 3, 1, tzinfo=UTC)


def only(query: Query) -> Filter:
    assert len(query.filters) == 1
    return query.filters[0]


def raises(kind: type[TallyError], call: Any, *args: Any) -> TallyError:
    with pytest.raises(kind) as caught:
        call(*args)
    return caught.value


# ---- GET query parameters ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entity", "limit"),
    [("ledgers", 10), ("balances", 10), ("transactions", 20), ("identities", 20)],
)
def test_each_list_has_blnks_default_page_size(entity: str, limit: int) -> None:
    query = parse_query_params({}, entity)
    assert (query.limit, query.offset, query.filters) == (limit, 0, ())
    assert (query.logical_operator, query.sort, query.include_count) == ("and", (), False)


def test_limit_and_offset_are_read_and_checked() -> None:
    query = parse_query_params({"limit": "5", "offset": "10"}, "transactions")
    assert (query.limit, query.offset) == (5, 10)
    for bad in ({"limit": "0"}, {"limit": "abc"}, {"limit": "1001"}, {"offset": "-1"}):
        error = raises(ValidationFailed, parse_query_params, bad, "ledgers")
        assert error.code == "GEN_VALIDATION_ERROR"


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("status_eq", "APPLIED", Filter("status", "eq", ("APPLIED",))),
        ("status_ne", "VOID", Filter("status", "ne", ("VOID",))),
        ("precise_amount_gt", "100", Filter("precise_amount", "gt", (100,))),
        ("precise_amount_gte", "100", Filter("precise_amount", "gte", (100,))),
        ("precision_lt", "1000", Filter("precision", "lt", (1000,))),
        ("precision_lte", "100", Filter("precision", "lte", (100,))),
        ("currency_in", "USD, EUR,PTS", Filter("currency", "in", ("USD", "EUR", "PTS"))),
        ("precise_amount_between", "10|20", Filter("precise_amount", "between", (10, 20))),
        ("reference_like", "earn-%", Filter("reference", "like", ("earn-%",))),
        ("description_ilike", "%COFFEE%", Filter("description", "ilike", ("%COFFEE%",))),
        ("parent_transaction_isnull", "true", Filter("parent_transaction", "isnull", ())),
        ("parent_transaction_isnotnull", "", Filter("parent_transaction", "isnotnull", ())),
        ("amount_eq", "100.50", Filter("amount", "eq", (Decimal("100.50"),))),
        ("inflight_eq", "true", Filter("inflight", "eq", (True,))),
    ],
)
def test_every_operator_in_a_query_parameter(key: str, value: str, expected: Filter) -> None:
    assert only(parse_query_params({key: value}, "transactions")) == expected


def test_the_operator_is_the_last_part_so_long_field_names_work() -> None:
    query = parse_query_params(
        {"inflight_debit_balance_lt": "5", "created_at_gte": "1"}, "balances"
    )
    assert [(f.field, f.op) for f in query.filters] == [
        ("inflight_debit_balance", "lt"),
        ("created_at", "gte"),
    ]


def test_meta_data_keys_are_filters_and_keep_their_text() -> None:
    query = parse_query_params({"meta_data.loyalty_tier_eq": "gold", "meta_data.visits_gt": "007"},
                               "balances")  # fmt: skip
    assert query.filters == (
        Filter("meta_data.loyalty_tier", "eq", ("gold",)),
        Filter("meta_data.visits", "gt", ("007",)),
    )
    error = raises(BadRequest, parse_query_params, {"meta_data.9lives_eq": "x"}, "balances")
    assert "invalid JSON key" in error.message


def test_reserved_and_unrelated_parameters_are_ignored() -> None:
    params = {"page": "2", "per_page": "9", "include": "identity", "with_queued": "true",
              "order_by": "x", "instance_id": "i", "status_eq": "APPLIED"}  # fmt: skip
    assert only(parse_query_params(params, "transactions")).field == "status"


def test_repeated_parameters_each_add_a_filter_and_or_joins_them() -> None:
    params = {"status_eq": ["APPLIED", "INFLIGHT"], "logical_operator": "OR"}
    query = parse_query_params(params, "transactions")
    assert query.where == Group(
        "or", (Filter("status", "eq", ("APPLIED",)), Filter("status", "eq", ("INFLIGHT",)))
    )


def test_unknown_field_is_a_bad_request_with_blnks_message() -> None:
    error = raises(BadRequest, parse_query_params, {"x_eq": "1"}, "transactions")
    assert error.code == "GEN_BAD_REQUEST"
    assert error.message == "Invalid filter: invalid field 'x' for table 'transactions'"


def test_an_operator_that_does_not_fit_the_field_is_refused() -> None:
    for params, entity in [
        ({"balance_like": "1%"}, "balances"),
        ({"allow_overdraft_gt": "true"}, "balances"),
        ({"balance_id_gt": "bln_1"}, "transactions"),
    ]:
        error = raises(BadRequest, parse_query_params, params, entity)
        assert "does not apply" in error.message


def test_bad_logical_operator_is_a_validation_error() -> None:
    error = raises(ValidationFailed, parse_query_params, {"logical_operator": "xor"}, "ledgers")
    assert error.code == "GEN_VALIDATION_ERROR"


def test_values_are_typed_by_their_field() -> None:
    huge = 10**40 + 7
    assert only(parse_query_params({"balance_eq": str(huge)}, "balances")).values == (huge,)
    assert only(parse_query_params({"reference_eq": "123"}, "transactions")).values == ("123",)
    for params in ({"balance_gt": "1.5"}, {"balance_gt": "ten"}, {"created_at_gt": "yesterday"},
                   {"allow_overdraft_eq": "maybe"}):  # fmt: skip
        error = raises(BadRequest, parse_query_params, params, "balances")
        assert error.code == "GEN_BAD_REQUEST"


@given(st.integers(min_value=-(10**60), max_value=10**60))
def test_whole_amounts_of_any_size_stay_exact(amount: int) -> None:
    assert only(parse_query_params({"balance_lte": str(amount)}, "balances")).values == (amount,)


def test_dates_cover_the_span_they_were_written_to() -> None:
    def moment(value: str) -> Moment:
        found = only(parse_query_params({"created_at_eq": value}, "ledgers")).values[0]
        assert isinstance(found, Moment)
        return found

    assert moment("2026-03-01") == Moment(MARCH_1, MARCH_1 + timedelta(days=1))
    assert moment("2026-03-01T01:00:00+01:00") == Moment(MARCH_1, MARCH_1 + timedelta(seconds=1))
    exact = MARCH_1 + timedelta(microseconds=250)
    assert moment("2026-03-01T00:00:00.000250Z") == Moment(exact, exact + timedelta(microseconds=1))
    unix = int(MARCH_1.timestamp())
    assert moment(str(unix)) == Moment(MARCH_1, MARCH_1 + timedelta(seconds=1))


def test_limits_on_filter_count_value_length_and_in_values() -> None:
    many = {f"meta_data.k{i}_eq": "v" for i in range(21)}
    assert "at most 20" in raises(BadRequest, parse_query_params, many, "ledgers").message
    raises(BadRequest, parse_query_params, {"name_eq": "x" * 1001}, "ledgers")
    raises(ValidationFailed, parse_query_params, {"name_in": ",".join("x" * 101)}, "ledgers")
    raises(ValidationFailed, parse_query_params, {"name_between": "a|b|c"}, "ledgers")


def test_sort_by_is_used_when_sortable_and_dropped_otherwise() -> None:
    query = parse_query_params({"sort_by": "balance", "sort_order": "asc"}, "balances")
    assert query.sort == (Sort("balance", "asc"),)
    assert parse_query_params({"sort_by": "nope"}, "balances").sort == ()
    assert parse_query_params({"sort_by": "balance_id"}, "transactions").sort == ()


# ---- POST /{entity}/filter ---------------------------------------------------------------------

SDK_FILTER_BODY = {
    "filters": [{"field": "status", "operator": "in", "values": ["APPLIED", "INFLIGHT"]}],
    "logical_operator": "and",
    "sort_by": "created_at",
    "sort_order": "desc",
    "limit": 10,
    "offset": 0,
    "include_count": True,
}


def test_the_body_blnk_python_sends() -> None:
    query = parse_filter_body(SDK_FILTER_BODY, "transactions")
    assert query == Query(
        filters=(Filter("status", "in", ("APPLIED", "INFLIGHT")),),
        logical_operator="and",
        limit=10,
        offset=0,
        sort_by="created_at",
        sort_order="desc",
        include_count=True,
    )


@pytest.mark.parametrize(("limit", "expected"), [(None, 20), (0, 20), (-5, 20), (100, 100),
                                                 (101, 20), (7, 7)])  # fmt: skip
def test_filter_limit_outside_1_to_100_becomes_20(limit: int | None, expected: int) -> None:
    assert parse_filter_body({"limit": limit}, "ledgers").limit == expected


def test_filter_value_and_values_forms() -> None:
    body = {
        "filters": [
            {"field": "balance", "operator": "between", "values": [10, "20"]},
            {"field": "currency", "operator": "in", "value": "USD,EUR"},
            {"field": "indicator", "operator": "isnull"},
            {"field": "meta_data.score", "operator": "gte", "value": 2.5},
            {"field": "ledger_id", "operator": "EQ", "values": ["ldg_1"]},
        ],
        "logical_operator": "or",
    }
    query = parse_filter_body(body, "balances")
    assert query.where == Group(
        "or",
        (
            Filter("balance", "between", (10, 20)),
            Filter("currency", "in", ("USD", "EUR")),
            Filter("indicator", "isnull", ()),
            Filter("meta_data.score", "gte", (Decimal("2.5"),)),
            Filter("ledger_id", "eq", ("ldg_1",)),
        ),
    )


@pytest.mark.parametrize(
    "body",
    [
        {"filters": {"field": "name"}},
        {"filters": ["name"]},
        {"filters": [{"operator": "eq", "value": "x"}]},
        {"filters": [{"field": "name", "value": "x"}]},
        {"filters": [{"field": "name", "operator": "eq"}]},
        {"filters": [{"field": "name", "operator": "in", "values": []}]},
        {"filters": [{"field": "created_at", "operator": "between", "values": ["2026-01-01"]}]},
        {"logical_operator": "xor"},
        {"logical_operator": 1},
        {"limit": "10"},
        {"offset": -1},
        {"sort_order": "up"},
        {"include_count": "yes"},
        {"sort_by": 5},
    ],
)
def test_a_body_of_the_wrong_shape_is_a_validation_error(body: dict[str, Any]) -> None:
    error = raises(ValidationFailed, parse_filter_body, body, "ledgers")
    assert error.code == "GEN_VALIDATION_ERROR"


def test_unknown_field_or_operator_in_a_body_is_a_bad_request() -> None:
    field = {"filters": [{"field": "x", "operator": "eq", "value": 1}]}
    error = raises(BadRequest, parse_filter_body, field, "transactions")
    assert error.message == "Invalid filter: invalid field 'x' for table 'transactions'"
    operator = {"filters": [{"field": "status", "operator": "near", "value": 1}]}
    error = raises(BadRequest, parse_filter_body, operator, "transactions")
    assert error.code == "GEN_BAD_REQUEST" and "invalid operator 'near'" in error.message


def test_an_unknown_sort_field_is_dropped_like_blnk_does() -> None:
    assert parse_filter_body({"sort_by": "shoe_size"}, "identities").sort == ()


def test_a_null_value_points_to_isnull() -> None:
    body = {"filters": [{"field": "identity_id", "operator": "eq", "value": None}]}
    assert "isnull" in raises(BadRequest, parse_filter_body, body, "balances").message


# ---- Typesense syntax ----------------------------------------------------------------------------


def test_filter_by_grammar() -> None:
    expr = parse_filter_by("currency:=USD && (balance:>=100 || indicator:[`@World, inc`, @Store])")
    assert expr == Junction(
        "and",
        (
            Clause("currency", "=", (Item("USD"),)),
            Junction(
                "or",
                (
                    Clause("balance", ">=", (Item("100"),)),
                    Clause("indicator", "", (Item("@World, inc"), Item("@Store")), is_list=True),
                ),
            ),
        ),
    )
    assert parse_filter_by("amount:[10..20, 50]") == Clause(
        "amount", "", (Item("10", "20"), Item("50")), is_list=True
    )
    assert parse_filter_by("  ") is None


@pytest.mark.parametrize(
    "text", ["currency", "currency:", ":=USD", "a:=1 &&", "(a:=1", "a:=[1,2", "a:=`x", "a:=1)"]
)
def test_filter_by_syntax_errors_say_where(text: str) -> None:
    error = raises(SearchQueryInvalid, parse_filter_by, text)
    assert error.code == "SRCH_QUERY_INVALID" and "filter_by" in error.message


def test_sort_by_syntax() -> None:
    assert parse_sort_by("created_at:desc, balance:ASC") == (
        ("created_at", "desc"),
        ("balance", "asc"),
    )
    raises(SearchQueryInvalid, parse_sort_by, "created_at")


# ---- POST /search/{collection} -------------------------------------------------------------------


def test_the_search_blnk_python_sends() -> None:
    body = {"q": "*", "filter_by": "currency:=USD", "sort_by": "created_at:desc", "page": 1,
            "per_page": 10}  # fmt: skip
    search = parse_search(body, "balances")
    assert search.match is None
    assert search.filter == Filter("currency", "eq", ("USD",))
    assert search.sort == (Sort("created_at", "desc"),)
    assert (search.page, search.per_page, search.offset) == (1, 10, 0)


def test_q_terms_must_each_appear_in_one_of_the_query_by_fields() -> None:
    search = parse_search({"q": "alice 50%", "query_by": "first_name,email_address"}, "identities")
    assert search.match == Group(
        "and",
        (
            Group("or", (Filter("first_name", "ilike", ("%alice%",)),
                         Filter("email_address", "ilike", ("%alice%",)))),
            Group("or", (Filter("first_name", "ilike", ("%50\\%%",)),
                         Filter("email_address", "ilike", ("%50\\%%",)))),
        ),
    )  # fmt: skip
    assert parse_search({"q": "shop"}, "ledgers").query_by == ("name", "ledger_id")
    assert contains_pattern("a_b\\c") == "%a\\_b\\\\c%"


def test_filter_by_clauses_become_filters() -> None:
    def condition(text: str) -> Any:
        return parse_search({"q": "*", "filter_by": text}, "transactions").filter

    assert condition("status:APPLIED") == Filter("status", "ilike", ("%APPLIED%",))
    assert condition("precise_amount:5000") == Filter("precise_amount", "eq", (5000,))
    assert condition("status:=[APPLIED,VOID]") == Filter("status", "in", ("APPLIED", "VOID"))
    assert condition("status:!=[APPLIED,VOID]") == Group(
        "and", (Filter("status", "ne", ("APPLIED",)), Filter("status", "ne", ("VOID",)))
    )
    assert condition("precise_amount:[10..20]") == Filter("precise_amount", "between", (10, 20))
    assert condition("id:=txn_1") == Filter("transaction_id", "eq", ("txn_1",))
    assert condition("balance_id:bln_1") == Filter("balance_id", "eq", ("bln_1",))
    assert condition("meta_data.points:<=10") == Filter("meta_data.points", "lte", ("10",))
    moment = condition(f"created_at:>{int(MARCH_1.timestamp())}")
    assert moment.op == "gt" and moment.values[0].at == MARCH_1


@pytest.mark.parametrize(
    ("body", "collection", "words"),
    [
        ({"q": "*"}, "accounts", "unknown search collection"),
        ({"q": 5}, "ledgers", "q must be a string"),
        ({"q": "*", "query_by": "balance"}, "balances", "cannot be searched as text"),
        ({"q": "*", "filter_by": "shoe:=9"}, "ledgers", "invalid field 'shoe'"),
        ({"q": "*", "filter_by": "name:>[a,b]"}, "ledgers", "takes one value"),
        ({"q": "*", "filter_by": "balance:!=[1..5]"}, "balances", "takes no range"),
        ({"q": "*", "filter_by": "balance:>=lots"}, "balances", "whole number"),
        ({"q": "*", "sort_by": "shoe:asc"}, "ledgers", "cannot sort"),
        (
            {"q": "*", "sort_by": "name:asc,ledger_id:asc,created_at:asc,name:desc"},
            "ledgers",
            "at most 3",
        ),
        ({"q": "*", "page": 0}, "ledgers", "page"),
        ({"q": "*", "per_page": 251}, "ledgers", "per_page"),
        ({"q": "*", "per_page": True}, "ledgers", "per_page"),
        ({"q": "*", "filter_by": 7}, "ledgers", "filter_by must be a string"),
    ],
)
def test_search_mistakes_are_srch_query_invalid(
    body: dict[str, Any], collection: str, words: str
) -> None:
    error = raises(SearchQueryInvalid, parse_search, body, collection)
    assert error.code == "SRCH_QUERY_INVALID"
    assert words in error.message


def test_text_match_sorting_is_accepted_and_paging_is_computed() -> None:
    search = parse_search(
        {"q": "*", "sort_by": "_text_match:desc,name:asc", "page": "3", "per_page": 25}, "ledgers"
    )
    assert search.sort == (Sort("name", "asc"),)
    assert search.offset == 50
