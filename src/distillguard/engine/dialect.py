"""Dialect quirks in one place: our SQL is written for DuckDB and transpiled to Spark.

SQLGlot does the translation; what it translates into a function that exists on both
sides but means something different there is rewritten here, before Spark SQL is
generated, so the steps keep one text and one meaning.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp

# Session settings the steps' meaning depends on, set by the Spark engine on its session.
SESSION_SETTINGS = {
    # DuckDB's engine runs in UTC: day boundaries, hours of day and timestamp literals too
    "spark.sql.session.timeZone": "UTC",
}


def spark_expression(expression: exp.Expr) -> str:
    """One parsed DuckDB expression (a query, a condition) as Spark SQL."""
    return _rewrite(expression.copy()).sql(dialect="spark", unsupported_level=sqlglot.ErrorLevel.RAISE)


def to_spark(sql: str) -> str:
    """DuckDB SQL as Spark SQL; raises sqlglot.ParseError when it cannot."""
    return ";\n".join(
        spark_expression(statement)
        for statement in sqlglot.parse(sql, read="duckdb")
        if statement is not None
    )


def _rewrite(expression: exp.Expr) -> exp.Expr:
    return expression.transform(_rewrite_node, copy=False)


def _rewrite_node(node: exp.Expr) -> exp.Expr:
    """One node in Spark's terms where SQLGlot's translation would change its meaning."""
    if isinstance(node, exp.Literal) and not node.is_string and _is_fractional(node.this):
        # DuckDB computes with a literal like 1.0 or 0.5 in DOUBLE wherever the other side is
        # a DOUBLE, and averages DECIMALs into DOUBLEs; Spark keeps it DECIMAL(p, s) and so
        # rounds results to a few places (a share of 5/7 came back 0.71429 for 0.714286).
        return exp.cast(node, exp.DataType.Type.DOUBLE)
    if isinstance(node, exp.Greatest | exp.Least) and not node.expressions:
        # DuckDB takes greatest(x) of one argument (x); Spark wants two or more
        return node.this
    if isinstance(node, exp.TimeToUnix):
        # DuckDB's epoch(ts) keeps the microseconds as a fraction; Spark's unix_timestamp
        # drops them (gaps between requests of the same second became 0)
        micros = exp.Anonymous(this="UNIX_MICROS", expressions=[node.this])
        return exp.Div(this=micros, expression=exp.cast(exp.Literal.number(1_000_000), "DOUBLE"))
    if isinstance(node, exp.DateDiff) and node.args.get("date_part_boundary") and node.unit is not None:
        # DuckDB's date_diff('hour', a, b) counts hour boundaries crossed (00:59 -> 01:01 is
        # one); Spark's counts whole hours elapsed (zero). Truncating both ends first makes
        # Spark count boundaries too (an account's signup age came out 0.6 days for 0.7).
        unit = node.unit.name.upper()
        return exp.DateDiff(
            this=exp.TimestampTrunc(this=node.this, unit=exp.Literal.string(unit)),
            expression=exp.TimestampTrunc(this=node.expression, unit=exp.Literal.string(unit)),
            unit=exp.var(unit),
        )
    if isinstance(node, exp.ArgMin | exp.ArgMax) and isinstance(node.expression, exp.Tuple):
        # A tie-break key (a, b): DuckDB ranks a NULL field above every value, Spark below,
        # so arg_min picked the row with the NULL on Spark. Each field f becomes
        # (f IS NULL, f), which Spark orders as DuckDB orders f.
        fields = [
            part
            for f in node.expression.expressions
            for part in (exp.Is(this=f.copy(), expression=exp.Null()), f)
        ]
        node.set("expression", exp.Tuple(expressions=fields))
        return node
    if isinstance(node, exp.Length) and isinstance(node.this, _LIST_VALUED):
        # DuckDB's len() measures lists and strings alike; Spark's length() only strings.
        # Only a visibly list-valued argument is rewritten: a column's type is not known here.
        return exp.ArraySize(this=node.this)
    if isinstance(node, exp.Log) and node.args.get("expression") is None:
        # DuckDB's log(x) is the base-10 logarithm; Spark's log(x) is the natural one
        return exp.Log(this=exp.Literal.number(10), expression=node.this)
    if isinstance(node, exp.ArrayAgg) and isinstance(node.this, exp.Order):
        # SQLGlot would drop the ORDER BY of list(x ORDER BY y) and Spark's collect_list has
        # no order: refuse rather than return lists in another order
        raise sqlglot.errors.UnsupportedError("list(... ORDER BY ...) has no Spark translation here")
    return node


_LIST_VALUED = (exp.Array, exp.ArrayAgg, exp.ArrayFilter, exp.ArraySort, exp.ArrayDistinct, exp.ArrayConcat)


def _is_fractional(number: str) -> bool:
    return "." in number or "e" in number.lower()
