"""Trino's functions where DuckDB's function of the same name answers differently: sqlglot rewrites.

`rewrite.trino_fixups` calls `apply` on every bound SELECT before it is generated as DuckDB SQL.
Each rewrite replaces one kind of parsed node with a DuckDB expression that gives Trino's answer
(the conformance suite, tests/local_aws/test_trino_conformance.py, holds the examples from Trino's
documentation that each one must meet); none edits SQL text. Where the answer depends on a type,
the rewrite applies only where the type is visible in the SQL (a literal or a CAST).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from sqlglot import exp

from local_aws.athena_engine.trino_decimal import decimal_divide, decimal_params

Rewrite = Callable[[exp.Expression], exp.Expression | None]

_DATE_UNITS = {"DAY", "WEEK", "MONTH", "QUARTER", "YEAR"}


def _call(name: str, *args: exp.Expression) -> exp.Expression:
    return exp.Anonymous(this=name, expressions=list(args))


def _string(value: str) -> exp.Literal:
    return exp.Literal.string(value)


def _is_date(node: exp.Expression) -> bool:
    """A DATE the SQL shows as one: a DATE literal or CAST(... AS DATE)."""
    return isinstance(node, exp.Cast) and node.to.is_type(exp.DataType.Type.DATE)


# -- decimals ---------------------------------------------------------------------------------
def decimal_literal(node: exp.Expression) -> exp.Expression | None:
    """``DECIMAL '1.50'`` is decimal(3,2) in Trino (its digits); DuckDB's bare DECIMAL is (18,3)."""
    if not isinstance(node, exp.Cast) or not node.to.is_type(exp.DataType.Type.DECIMAL):
        return None
    if node.to.expressions or not (isinstance(node.this, exp.Literal) and node.this.is_string):
        return None
    text = node.this.name.strip()
    match = re.fullmatch(r"[+-]?(\d*)(?:\.(\d*))?", text)
    if match is None or not (match.group(1) or match.group(2)):
        return None
    whole, fraction = match.group(1).lstrip("0"), match.group(2) or ""
    precision = max(len(whole) + len(fraction), 1)
    return exp.cast(node.this.copy(), exp.DataType.build(f"DECIMAL({precision}, {len(fraction)})"))


def round_decimal(node: exp.Expression) -> exp.Expression | None:
    """Trino's round(decimal(p,s), d) keeps the scale: decimal(min(38, p+1), s)."""
    if not isinstance(node, exp.Round) or node.args.get("decimals") is None:
        return None
    params = decimal_params(node.this)
    if params is None:
        return None
    precision, scale = params
    rounded = node.copy()
    rounded.set(
        "this", exp.cast(node.this.copy(), exp.DataType.build(f"DECIMAL({min(38, precision + 1)}, {scale})"))
    )
    return exp.cast(rounded, exp.DataType.build(f"DECIMAL({min(38, precision + 1)}, {scale})"))


# -- date and time ----------------------------------------------------------------------------
def dow_extract(node: exp.Expression) -> exp.Expression | None:
    """extract(dow ...) is ISO in Trino: Monday 1 .. Sunday 7 (DuckDB: Sunday 0)."""
    if isinstance(node, exp.Extract) and node.this.name.upper() in ("DOW", "DAY_OF_WEEK", "DAYOFWEEK"):
        return exp.DayOfWeekIso(this=node.expression.copy())
    return None


def date_arithmetic(node: exp.Expression) -> exp.Expression | None:
    """date_add(unit, n, DATE) and DATE +/- INTERVAL of whole days stay a DATE in Trino."""
    if isinstance(node, exp.DateAdd) and _is_date(node.this):
        unit = node.args.get("unit")
        if unit is not None and unit.name.upper() in _DATE_UNITS and not node.meta.get("trino_date"):
            node.meta["trino_date"] = True
            return exp.cast(node, exp.DataType.Type.DATE)
    if isinstance(node, (exp.Add, exp.Sub)) and not node.meta.get("trino_date"):
        interval = node.expression
        if _is_date(node.this) and isinstance(interval, exp.Interval):
            unit = interval.args.get("unit")
            if unit is not None and unit.name.upper() in _DATE_UNITS:
                node.meta["trino_date"] = True
                return exp.cast(node, exp.DataType.Type.DATE)
    return None


_ZONE_SUFFIX = r"(Z|[+-]\d\d(:?\d\d)?)$"
_WALL_CLOCK_PARTS = (exp.Hour, exp.Minute, exp.Second, exp.Day, exp.Month, exp.Year, exp.Date,
                     exp.DayOfWeekIso, exp.DayOfYear, exp.Quarter)  # fmt: skip


def iso_wall_clock(node: exp.Expression) -> exp.Expression | None:
    """hour(from_iso8601_timestamp('...+02:00')) is read on the timestamp's own clock (its zone).

    DuckDB's TIMESTAMPTZ keeps only the instant (and this engine runs in UTC), so a field taken of
    it is UTC's; the field of the text's own wall clock is Trino's answer.
    """
    if not isinstance(node, _WALL_CLOCK_PARTS) or not isinstance(node.this, exp.FromISO8601Timestamp):
        return None
    text = node.this.this.copy()
    local = _call("regexp_replace", text, _string(_ZONE_SUFFIX), _string(""))
    node.set("this", exp.cast(local, exp.DataType.Type.TIMESTAMP))
    return node


_JODA = [
    ("yyyy", "%Y"), ("yy", "%y"), ("MMMM", "%B"), ("MMM", "%b"), ("MM", "%m"), ("M", "%-m"),
    ("dd", "%d"), ("d", "%-d"), ("HH", "%H"), ("H", "%-H"), ("hh", "%I"), ("h", "%-I"),
    ("mm", "%M"), ("m", "%-M"), ("ss", "%S"), ("s", "%-S"), ("SSS", "%g"), ("EEEE", "%A"),
    ("EEE", "%a"), ("a", "%p"), ("ZZ", "%z"), ("Z", "%z"), ("z", "%Z"), ("DDD", "%j"),
]  # fmt: skip


def joda_to_strftime(pattern: str) -> str | None:
    """A Joda-Time pattern (format_datetime's) as a strftime one; None for a letter not known here."""
    out, position = [], 0
    while position < len(pattern):
        char = pattern[position]
        if char == "'":
            end = pattern.find("'", position + 1)
            end = len(pattern) if end < 0 else end
            out.append(pattern[position + 1 : end].replace("%", "%%") or "'")
            position = end + 1
            continue
        if not char.isalpha():
            out.append("%%" if char == "%" else char)
            position += 1
            continue
        run = len(pattern[position:]) - len(pattern[position:].lstrip(char))
        token = pattern[position : position + run]
        converted = next((code for joda, code in _JODA if joda == token), None)
        if converted is None:
            return None
        out.append(converted)
        position += run
    return "".join(out)


def format_datetime(node: exp.Expression) -> exp.Expression | None:
    if not (isinstance(node, exp.Anonymous) and node.name.lower() == "format_datetime"):
        return None
    args = node.expressions
    if len(args) != 2 or not (isinstance(args[1], exp.Literal) and args[1].is_string):
        return None
    pattern = joda_to_strftime(args[1].name)
    if pattern is None:
        return None
    return _call("strftime", args[0].copy(), _string(pattern))


# -- JSON -------------------------------------------------------------------------------------
def _json_path(node: exp.Expression) -> exp.Expression:
    path = node.expression
    return _string(path.sql(dialect="duckdb").strip("'")) if isinstance(path, exp.JSONPath) else path.copy()


def json_extract(node: exp.Expression) -> exp.Expression | None:
    """json_extract_scalar: NULL for an object, an array or invalid JSON; json_extract: NULL for invalid JSON."""
    if node.meta.get("trino_json"):
        return None
    if isinstance(node, exp.JSONExtractScalar):
        node.meta["trino_json"] = True
        document = node.this.copy()
        scalar = exp.not_(exp.In(
            this=_call("json_type", document.copy(), _json_path(node)),
            expressions=[_string("OBJECT"), _string("ARRAY")],
        ))  # fmt: skip
        condition = exp.and_(_call("json_valid", document), scalar)
        return exp.Case(ifs=[exp.If(this=condition, true=node)])
    if isinstance(node, exp.JSONExtract):
        node.meta["trino_json"] = True
        condition = _call("json_valid", node.this.copy())
        return exp.Case(ifs=[exp.If(this=condition, true=exp.cast(node, exp.DataType.Type.JSON))])
    return None


def json_size(node: exp.Expression) -> exp.Expression | None:
    """json_size(json, path): members of an object, elements of an array, 0 for a scalar."""
    if not (
        isinstance(node, exp.Anonymous) and node.name.lower() == "json_size" and len(node.expressions) == 2
    ):
        return None
    document, path = (arg.copy() for arg in node.expressions)
    kind = _call("json_type", document.copy(), path.copy())
    size = exp.Case(
        this=kind,
        ifs=[
            exp.If(
                this=_string("OBJECT"), true=_call("len", _call("json_keys", document.copy(), path.copy()))
            ),
            exp.If(this=_string("ARRAY"), true=_call("json_array_length", document.copy(), path.copy())),
        ],
        default=exp.Literal.number(0),
    )
    guarded = exp.Case(
        ifs=[
            exp.If(
                this=exp.and_(_call("json_valid", document), kind.copy().is_(exp.null()).not_()), true=size
            )
        ]
    )
    return exp.cast(guarded, exp.DataType.Type.BIGINT)


# -- conversion and aggregates ----------------------------------------------------------------
_CONVERSION = re.compile(r"%(?:(\d+)\$)?[-#+ 0,(<]*\d*(?:\.\d+)?([a-zA-Z%])")


def format_printf(node: exp.Expression) -> exp.Expression | None:
    """Trino's format() is Java's String.format; DuckDB's format is fmt-style, its printf is Java-like."""
    if not isinstance(node, exp.Format):
        return None
    pattern, args = node.this, [a.copy() for a in node.expressions]
    if isinstance(pattern, exp.Literal) and pattern.is_string:
        # Java's %s takes any value; DuckDB's printf only a string for %s.
        position = 0
        for match in _CONVERSION.finditer(pattern.name):
            if match.group(2) == "%":
                continue
            index = int(match.group(1)) - 1 if match.group(1) else position
            position = index + 1 if not match.group(1) else position
            if match.group(2) == "s" and 0 <= index < len(args):
                args[index] = exp.cast(args[index], exp.DataType.Type.VARCHAR)
    return _call("printf", pattern.copy(), *args)


def typeof_names(node: exp.Expression) -> exp.Expression | None:
    """typeof names Trino's types: integer, varchar(3), decimal(4,2), array(integer), ..."""
    if not isinstance(node, exp.Typeof) or node.meta.get("trino_typeof"):
        return None
    value = node.this
    if isinstance(value, exp.Literal) and value.is_string:
        return _string(f"varchar({len(value.name)})")
    node.meta["trino_typeof"] = True
    name = _call("lower", node)
    for pattern, replacement in (
        (r"^(.*)\[\]$", r"array(\1)"),
        (r"^float$", "real"),
        (r"^hugeint$", "bigint"),
        (r"^timestamp with time zone$", "timestamp(3) with time zone"),
        (r"^timestamp$", "timestamp(3)"),
        (r"^\"null\"$", "unknown"),
    ):
        name = _call("regexp_replace", name, _string(pattern), _string(replacement))
    return name


def map_agg(node: exp.Expression) -> exp.Expression | None:
    """map_agg(key, value): a map of each group's pairs (DuckDB: the entries of a list of pairs)."""
    if not (
        isinstance(node, exp.Anonymous) and node.name.lower() == "map_agg" and len(node.expressions) == 2
    ):
        return None
    key, val = (arg.copy() for arg in node.expressions)
    pair = exp.Struct(expressions=[exp.PropertyEQ(this=exp.to_identifier("k"), expression=key),
                                   exp.PropertyEQ(this=exp.to_identifier("v"), expression=val)])  # fmt: skip
    return _call("map_from_entries", _call("list", pair))


# -- small differences of single functions ------------------------------------------------------
def _anonymous(node: exp.Expression, name: str, arity: int) -> list[exp.Expression] | None:
    if isinstance(node, exp.Anonymous) and node.name.lower() == name and len(node.expressions) == arity:
        return [arg.copy() for arg in node.expressions]
    return None


def _bigint(node: exp.Expression) -> exp.Expression:
    node.meta["trino_typed"] = True
    return exp.cast(node, exp.DataType.Type.BIGINT)


def bigint_results(node: exp.Expression) -> exp.Expression | None:
    """bitwise_* and array_position are bigint in Trino (DuckDB: the argument's type)."""
    kinds = (exp.BitwiseAnd, exp.BitwiseOr, exp.BitwiseXor, exp.BitwiseNot, exp.ArrayPosition)
    if isinstance(node, kinds) and not node.meta.get("trino_typed"):
        return _bigint(node)
    return None


def null_when_missing(node: exp.Expression) -> exp.Expression | None:
    """split_part past the last field and regexp_extract without a match are NULL in Trino ('' in DuckDB)."""
    if node.meta.get("trino_null"):
        return None
    if isinstance(node, exp.SplitPart):
        node.meta["trino_null"] = True
        fields = _call("len", _call("string_split", node.this.copy(), node.args["delimiter"].copy()))
        index = node.args["part_index"].copy()
        return exp.Case(ifs=[exp.If(this=exp.LTE(this=index, expression=fields), true=node)])
    if isinstance(node, exp.RegexpExtract):
        node.meta["trino_null"] = True
        matches = _call("regexp_matches", node.this.copy(), node.expression.copy())
        return exp.Case(ifs=[exp.If(this=matches, true=node)])
    return None


def regexp_groups(node: exp.Expression) -> exp.Expression | None:
    """regexp_replace's replacement names a group as $1 (Java); DuckDB (RE2) as \\1."""
    if not isinstance(node, exp.RegexpReplace):
        return None
    replacement = node.args.get("replacement")
    if isinstance(replacement, exp.Literal) and replacement.is_string and "$" in replacement.name:
        node.set("replacement", _string(re.sub(r"\$(\d)", r"\\\1", replacement.name)))
    return None


def array_functions(node: exp.Expression) -> exp.Expression | None:
    """slice, any/all/none_match, arrays_overlap, trim_array in DuckDB's list functions."""
    if isinstance(node, exp.ArraySlice) and not node.meta.get("trino_slice"):
        start, length = node.args.get("start"), node.args.get("end")
        if start is not None and length is not None:
            end = exp.Sub(
                this=exp.Add(this=start.copy(), expression=length.copy()), expression=exp.Literal.number(1)
            )
            return _call("list_slice", node.this.copy(), start.copy(), exp.paren(end))
    for name in ("any_match", "all_match", "none_match"):
        args = _anonymous(node, name, 2)
        if args is not None:
            hits = _call("len", _call("list_filter", args[0].copy(), args[1]))
            if name == "any_match":
                return exp.GT(this=hits, expression=exp.Literal.number(0))
            if name == "none_match":
                return exp.EQ(this=hits, expression=exp.Literal.number(0))
            return exp.EQ(this=hits, expression=_call("len", args[0]))
    args = _anonymous(node, "arrays_overlap", 2)
    if args is not None:
        return _call("list_has_any", *args)
    args = _anonymous(node, "trim_array", 2)
    if args is not None:
        keep = exp.Sub(this=_call("len", args[0].copy()), expression=args[1])
        return _call("list_slice", args[0], exp.Literal.number(1), keep)
    return None


def renamed_functions(node: exp.Expression) -> exp.Expression | None:
    """Trino functions DuckDB has under another name or shape."""
    if _anonymous(node, "infinity", 0) is not None:
        return exp.cast(_string("Infinity"), exp.DataType.Type.DOUBLE)
    if _anonymous(node, "nan", 0) is not None:
        return exp.cast(_string("NaN"), exp.DataType.Type.DOUBLE)
    args = _anonymous(node, "codepoint", 1)
    if args is not None:
        return exp.cast(_call("unicode", *args), exp.DataType.Type.INT)
    args = _anonymous(node, "every", 1)
    if args is not None:
        return _call("bool_and", *args)
    args = _anonymous(node, "hamming_distance", 2)
    if args is not None:
        return exp.cast(_call("hamming", *args), exp.DataType.Type.BIGINT)
    args = _anonymous(node, "to_base", 2)
    if args is not None and not node.meta.get("trino_base"):
        node.meta["trino_base"] = True
        return _call("lower", node)
    args = _anonymous(node, "millisecond", 1)
    if args is not None and not node.meta.get("trino_ms"):
        node.meta["trino_ms"] = True  # DuckDB's millisecond counts the seconds too
        return exp.Mod(this=node, expression=exp.Literal.number(1000))
    args = _anonymous(node, "is_json_scalar", 1)
    if args is not None:
        kind = _call("json_type", *args)
        return exp.not_(exp.In(this=kind, expressions=[_string("OBJECT"), _string("ARRAY")]))
    return None


def unnest_rows(node: exp.Expression) -> exp.Expression | None:
    """UNNEST(rows) AS t(a, b, c): one column per field of the rows, as Trino gives.

    DuckDB's UNNEST in FROM gives one struct column; unnesting two levels (the array, then the
    struct) gives the fields as columns. Trino allows several alias columns for one argument only
    when it is an array of rows or a map, so that is what such an UNNEST is read as (a map by its
    entries); over a column of the outer query it is a lateral subquery, as DuckDB allows.
    """
    if not isinstance(node, exp.Unnest) or not isinstance(node.parent, (exp.From, exp.Join)):
        return None
    alias = node.args.get("alias")
    values = node.expressions
    if alias is None or len(alias.columns) < 2 or len(values) != 1 or node.args.get("offset"):
        return None
    array = values[0]
    if isinstance(array, exp.Array) and not all(isinstance(e, exp.Struct) for e in array.expressions):
        return None  # an array of plain values has one column, whatever the alias says
    if isinstance(array, (exp.Map, exp.VarMap)):
        array = _call("map_entries", array.copy())  # a map unnests as (key, value) rows
    depth = exp.PropertyEQ(this=exp.to_identifier("max_depth"), expression=exp.Literal.number(2))
    rows = exp.select(exp.Explode(this=array.copy(), expressions=[depth]))
    return exp.Subquery(this=rows, alias=alias.copy())


def _entry_lambda(function: exp.Expression, field: str | None) -> exp.Expression | None:
    """A Trino (k, v) -> body lambda over a map, as a DuckDB lambda over one map entry.

    ``field`` None keeps the body (a filter); "key" or "value" builds the entry with that field
    replaced by the body (transform_keys, transform_values).
    """
    if not isinstance(function, exp.Lambda) or len(function.expressions) != 2:
        return None
    entry = "__entry"
    names = {function.expressions[0].name: "key", function.expressions[1].name: "value"}
    body = function.this.copy()

    def field_of(node: exp.Expression) -> exp.Expression:
        if (
            isinstance(node, (exp.Identifier, exp.Column))
            and not node.args.get("table")
            and node.name in names
        ):
            if isinstance(node, exp.Identifier) and isinstance(node.parent, exp.Column):
                return node
            return exp.column(names[node.name], table=entry)
        return node

    body = body.transform(field_of)
    if field is not None:
        other = "value" if field == "key" else "key"
        pair = {field: body, other: exp.column(other, table=entry)}
        body = exp.Struct(expressions=[
            exp.PropertyEQ(this=exp.to_identifier("key"), expression=pair["key"]),
            exp.PropertyEQ(this=exp.to_identifier("value"), expression=pair["value"]),
        ])  # fmt: skip
    return exp.Lambda(this=body, expressions=[exp.to_identifier(entry)])


def map_functions(node: exp.Expression) -> exp.Expression | None:
    """map_filter, transform_keys, transform_values over the map's entries; cardinality of a map."""
    if isinstance(node, exp.ArraySize) and isinstance(node.this, (exp.Map, exp.VarMap)):
        return _call("cardinality", node.this.copy())
    for name, list_function, field in (
        ("map_filter", "list_filter", None),
        ("transform_values", "list_transform", "value"),
        ("transform_keys", "list_transform", "key"),
    ):
        args = _anonymous(node, name, 2)
        if args is None:
            continue
        function = _entry_lambda(args[1], field)
        if function is None:
            return None
        entries = _call(list_function, _call("map_entries", args[0]), function)
        return _call("map_from_entries", entries)
    return None


def date_sequence(node: exp.Expression) -> exp.Expression | None:
    """sequence(DATE, DATE) is a list of dates, a day apart (DuckDB has no DATE series)."""
    if not isinstance(node, exp.GenerateSeries) or node.args.get("step") is not None:
        return None
    start, end = node.args.get("start"), node.args.get("end")
    if start is None or end is None or not (_is_date(start) and _is_date(end)):
        return None
    day = exp.Interval(this=exp.Literal.number(1), unit=exp.var("DAY"))
    series = _call("generate_series", start.copy(), end.copy(), day)
    return exp.cast(series, exp.DataType.build("DATE[]", dialect="duckdb"))


def date_diff(node: exp.Expression) -> exp.Expression | None:
    """Trino's date_diff counts whole units (Joda); DuckDB's date_diff counts boundaries crossed."""
    if not isinstance(node, exp.DateDiff) or node.args.get("unit") is None:
        return None
    unit = _string(node.args["unit"].name.lower())
    return _call("date_sub", unit, node.expression.copy(), node.this.copy())


def _first_seen(array: exp.Expression) -> exp.Expression:
    """The distinct elements of an array in first-seen order (DuckDB's list_distinct does not keep it)."""
    element, index = exp.to_identifier("__element"), exp.to_identifier("__index")
    first = exp.EQ(this=_call("list_position", array.copy(), element.copy()), expression=index.copy())
    return _call("list_filter", array.copy(), exp.Lambda(this=first, expressions=[element, index]))


def ordered_arrays(node: exp.Expression) -> exp.Expression | None:
    """array_distinct, array_union and array_except keep the first array's order in Trino."""
    if isinstance(node, exp.ArrayDistinct):
        return _first_seen(node.this)
    args = _anonymous(node, "array_union", 2)
    if args is not None:
        return _first_seen(_call("list_concat", *args))
    if isinstance(node, exp.ArrayExcept):
        left, right = node.this.copy(), node.expression.copy()
        element, other = exp.to_identifier("__element"), exp.to_identifier("__other")
        same = exp.NullSafeEQ(this=other.copy(), expression=element.copy())
        matches = _call("len", _call("list_filter", right.copy(), exp.Lambda(this=same, expressions=[other])))
        absent = exp.Lambda(
            this=exp.EQ(this=matches, expression=exp.Literal.number(0)), expressions=[element]
        )
        missing = exp.or_(left.copy().is_(exp.null()), right.is_(exp.null()))
        return exp.Case(
            ifs=[exp.If(this=missing, true=exp.null())],
            default=_first_seen(_call("list_filter", left, absent)),
        )
    if isinstance(node, exp.Reverse) and isinstance(node.this, exp.Array):
        return _call("list_reverse", node.this.copy())
    return None


_BIT_TYPES = {"64": "BIGINT", "32": "INT", "16": "SMALLINT", "8": "TINYINT"}


def more_functions(node: exp.Expression) -> exp.Expression | None:
    """to_iso8601, json_array_contains, width_bucket and bit_count(x, bits) in DuckDB's terms."""
    args = _anonymous(node, "to_iso8601", 1)
    if args is not None:
        kind = _call("typeof", args[0].copy())
        shapes = [("DATE", "%Y-%m-%d"), ("TIMESTAMP WITH TIME ZONE", "%Y-%m-%dT%H:%M:%S.%gZ")]
        ifs = [exp.If(this=_string(k), true=_call("strftime", args[0].copy(), _string(f))) for k, f in shapes]
        return exp.Case(
            this=kind, ifs=ifs, default=_call("strftime", args[0], _string("%Y-%m-%dT%H:%M:%S.%g"))
        )
    if isinstance(node, exp.JSONArrayContains):
        elements = _call("json_extract", node.this.copy(), _string("$[*]"))
        return _call("list_contains", elements, _call("to_json", node.expression.copy()))
    if isinstance(node, exp.WidthBucket) and node.args.get("num_buckets") is not None:
        value, low, high = (node.args[k].copy() for k in ("this", "min_value", "max_value"))
        count = node.args["num_buckets"].copy()
        share = exp.Div(this=exp.paren(exp.Sub(this=value.copy(), expression=low.copy())),
                        expression=exp.paren(exp.Sub(this=high.copy(), expression=low.copy())))  # fmt: skip
        inside = exp.Add(
            this=_call("floor", exp.Mul(this=share, expression=count.copy())),
            expression=exp.Literal.number(1),
        )
        bucket = exp.Case(
            ifs=[
                exp.If(this=exp.LT(this=value.copy(), expression=low), true=exp.Literal.number(0)),
                exp.If(
                    this=exp.GTE(this=value, expression=high),
                    true=exp.Add(this=count, expression=exp.Literal.number(1)),
                ),
            ],
            default=inside,
        )
        return exp.cast(bucket, exp.DataType.Type.BIGINT)
    args = _anonymous(node, "bit_count", 2)
    if args is not None and isinstance(args[1], exp.Literal) and args[1].name in _BIT_TYPES:
        value = exp.cast(args[0], exp.DataType.build(_BIT_TYPES[args[1].name]))
        return exp.cast(_call("bit_count", value), exp.DataType.Type.BIGINT)
    return None


REWRITES: tuple[Rewrite, ...] = (
    decimal_literal,
    decimal_divide,
    round_decimal,
    dow_extract,
    iso_wall_clock,
    date_arithmetic,
    format_datetime,
    json_extract,
    json_size,
    format_printf,
    typeof_names,
    map_agg,
    bigint_results,
    null_when_missing,
    regexp_groups,
    array_functions,
    renamed_functions,
    unnest_rows,
    map_functions,
    date_sequence,
    date_diff,
    ordered_arrays,
    more_functions,
)


def _rewrite(node: exp.Expression) -> exp.Expression:
    for rewrite in REWRITES:
        replaced = rewrite(node)
        if replaced is not None:
            node = replaced
    return node


def apply(statement: exp.Expression) -> exp.Expression:
    """Every rewrite above, bottom-up (an argument is Trino's before the call that takes it)."""
    # Breadth-first order reversed: every node comes after all of its descendants.
    for node in reversed(list(statement.walk(bfs=True))):
        parent, key, index = node.parent, node.arg_key, node.index
        replaced = _rewrite(node)
        if replaced is node:
            continue
        if parent is None:
            statement = replaced
        else:
            parent.set(key, replaced, index)
    return statement
