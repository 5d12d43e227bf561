{#-
    Where txmon reads its two inputs from: the vars `counts_source` (per-minute counts by status)
    and `transactions_source` (one row per transaction), set in dbt_project.yml or with --vars.
    Each is one of

        txmon                       txmon's own raw table in `raw_schema` (the default), which
                                    the build creates and `txmon load` fills;
        {schema: S, table: T, columns: {...}}
                                    a table (or view) of yours, read as it is: never created,
                                    altered or written to;
        {seed: NAME, columns: {...}}
                                    the CSV seeds/inputs/NAME.csv, loaded by `dbt build` (the
                                    other CSVs there stay disabled and cost nothing);
        false                       not used: not read, not tested, no freshness check.

    `columns` maps txmon's column names (input_columns below) to yours: a column name or any SQL
    expression over your columns, used as written. A column it leaves out is read from the column
    of the same name when there is one; otherwise a required column is an error, loaded_at is the
    event time and any other column is empty. A time without a time zone is read as UTC.
-#}


{#- txmon's columns of each input, in order, with their types in the raw tables. -#}
{% macro input_columns(input_name) -%}
    {%- set columns = {
        'counts': [
            {'name': 'count_id', 'type': 'bigint', 'required': false},
            {'name': 'observed_at', 'type': 'timestamptz', 'required': true},
            {'name': 'status', 'type': 'text', 'required': false},
            {'name': 'transaction_count', 'type': 'bigint', 'required': true},
            {'name': 'dimension_name', 'type': 'text', 'required': false},
            {'name': 'dimension_value', 'type': 'text', 'required': false},
            {'name': 'load_id', 'type': 'bigint', 'required': false},
            {'name': 'loaded_at', 'type': 'timestamptz', 'required': false},
        ],
        'transactions': [
            {'name': 'transaction_id', 'type': 'text', 'required': true},
            {'name': 'created_at', 'type': 'timestamptz', 'required': true},
            {'name': 'status', 'type': 'text', 'required': true},
            {'name': 'amount', 'type': 'numeric(18, 2)', 'required': false},
            {'name': 'channel', 'type': 'text', 'required': false},
            {'name': 'product', 'type': 'text', 'required': false},
            {'name': 'acquirer', 'type': 'text', 'required': false},
            {'name': 'card_type', 'type': 'text', 'required': false},
            {'name': 'auth_code', 'type': 'text', 'required': false},
            {'name': 'duration_ms', 'type': 'integer', 'required': false},
            {'name': 'load_id', 'type': 'bigint', 'required': false},
            {'name': 'loaded_at', 'type': 'timestamptz', 'required': false},
        ],
    } -%}
    {{ return(columns[input_name]) }}
{%- endmacro %}


{#- Each input's table in txmon's raw schema, and the column that holds its event time. -#}
{% macro input_raw_table(input_name) -%}
    {{ return({'counts': 'transaction_counts', 'transactions': 'transactions'}[input_name]) }}
{%- endmacro %}

{% macro input_time_column(input_name) -%}
    {{ return({'counts': 'observed_at', 'transactions': 'created_at'}[input_name]) }}
{%- endmacro %}


{#-
    The input as configured, checked: {name, var, kind ('txmon', 'table', 'seed' or 'off'),
    schema, table, seed, columns}. A var of the wrong shape is a compilation error naming the
    var and what it expects.
-#}
{% macro txmon_input(input_name) -%}
    {%- set var_name = input_name ~ '_source' -%}
    {%- set given = var(var_name) -%}
    {%- set expected = var_name ~ " must be txmon, false, {schema: ..., table: ..., columns: {...}}"
        ~ " or {seed: ..., columns: {...}}" -%}
    {%- set input = {'name': input_name, 'var': var_name, 'kind': none, 'schema': none,
        'table': none, 'seed': none, 'columns': {}} -%}
    {%- if given == 'txmon' -%}
        {%- do input.update({'kind': 'txmon'}) -%}
    {%- elif given is sameas false -%}
        {%- do input.update({'kind': 'off'}) -%}
    {%- elif given is mapping -%}
        {%- for key in given if key not in ['schema', 'table', 'seed', 'columns'] -%}
            {{ exceptions.raise_compiler_error(var_name ~ ": unknown key '" ~ key
                ~ "' (the keys are schema, table, seed and columns)") }}
        {%- endfor -%}
        {%- if 'seed' in given and ('schema' in given or 'table' in given) -%}
            {{ exceptions.raise_compiler_error(var_name ~ ": give either seed or schema and table,"
                ~ " not both") }}
        {%- elif 'seed' in given -%}
            {%- if given.seed is not string or given.seed == '' -%}
                {{ exceptions.raise_compiler_error(var_name ~ ": seed must be the name of a CSV"
                    ~ " in seeds/inputs/, without .csv") }}
            {%- endif -%}
            {%- do input.update({'kind': 'seed', 'seed': given.seed}) -%}
        {%- elif given.get('schema') is string and given.get('table') is string
            and given.schema != '' and given.table != '' -%}
            {%- do input.update({'kind': 'table', 'schema': given.schema, 'table': given.table}) -%}
        {%- else -%}
            {{ exceptions.raise_compiler_error(var_name ~ ": a table of yours needs both schema"
                ~ " and table, e.g. {schema: payments, table: ledger}") }}
        {%- endif -%}
        {%- set columns = given.get('columns') or {} -%}
        {%- if columns is not mapping -%}
            {{ exceptions.raise_compiler_error(var_name ~ ": columns must map txmon's column names"
                ~ " to yours, e.g. {created_at: occurred_at}") }}
        {%- endif -%}
        {%- set known = input_columns(input_name) | map(attribute='name') | list -%}
        {%- for column, expression in columns.items() -%}
            {%- if column not in known -%}
                {{ exceptions.raise_compiler_error(var_name ~ ": unknown column '" ~ column
                    ~ "' under columns (txmon's columns are " ~ known | join(', ') ~ ")") }}
            {%- elif expression is not string or expression | trim == '' -%}
                {{ exceptions.raise_compiler_error(var_name ~ ": columns." ~ column
                    ~ " must be a column name or an SQL expression") }}
            {%- endif -%}
        {%- endfor -%}
        {%- do input.update({'columns': columns}) -%}
    {%- else -%}
        {{ exceptions.raise_compiler_error(expected ~ "; got " ~ tojson(given)) }}
    {%- endif -%}
    {%- if input.kind == 'off' and var('counts_source') is sameas false
        and var('transactions_source') is sameas false -%}
        {{ exceptions.raise_compiler_error("counts_source and transactions_source are both false:"
            ~ " txmon needs at least one input") }}
    {%- endif -%}
    {{ return(input) }}
{%- endmacro %}


{#- Whether an input reads txmon's own raw tables, which the build then creates. -#}
{% macro reads_txmon_raw_tables() -%}
    {{ return(txmon_input('counts').kind == 'txmon'
        or txmon_input('transactions').kind == 'txmon') }}
{%- endmacro %}


{#- The relation an input reads (none when it is off). -#}
{% macro input_relation(input) -%}
    {%- if input.kind == 'txmon' -%}
        {{ return(source('txmon_raw', input_raw_table(input.name))) }}
    {%- elif input.kind == 'table' -%}
        {{ return(source(input.name ~ '_input', input.name)) }}
    {%- elif input.kind == 'seed' -%}
        {{ return(ref(input.seed)) }}
    {%- endif -%}
    {{ return(none) }}
{%- endmacro %}


{#-
    txmon's columns of an input read from a table of yours or a seed: for each, the SQL that
    computes it from your columns, cast to txmon's type. When dbt runs (not when it parses) the
    table's columns are looked up, to read a column of the same name, to read a time without a
    time zone as UTC, and to name a required column that is missing.
-#}
{% macro input_expressions(input) -%}
    {%- set found = {} -%}
    {%- set relation = load_relation(input_relation(input)) if execute and input.kind != 'off'
        else none -%}
    {%- if relation is not none -%}
        {%- for column in adapter.get_columns_in_relation(relation) -%}
            {%- do found.update({column.name: column.data_type}) -%}
        {%- endfor -%}
    {%- endif -%}
    {%- set time_column = input_time_column(input.name) -%}
    {%- set sources = {} -%}
    {%- for column in input_columns(input.name) -%}
        {%- set name = column.name -%}
        {%- if input.kind == 'off' -%}
            {%- set expression = none -%}
        {%- elif name in input.columns -%}
            {%- set expression = input.columns[name] | trim -%}
        {%- elif name in found or (column.required and relation is none) -%}
            {%- set expression = name -%}
        {%- elif column.required -%}
            {{ exceptions.raise_compiler_error(input.var ~ ": " ~ relation.schema ~ "."
                ~ relation.identifier ~ " has no column " ~ name ~ ": map one of its columns (or"
                ~ " an expression) to it under columns, e.g. {" ~ name ~ ": your_column}") }}
        {%- elif name == 'loaded_at' -%}
            {#- Without a load time, a row counts as loaded when it happened. -#}
            {%- set expression = sources[time_column] -%}
        {%- else -%}
            {%- set expression = none -%}
        {%- endif -%}
        {%- if expression is not none and found.get(expression) == 'timestamp without time zone'
            and column.type == 'timestamptz' -%}
            {%- set expression = expression ~ " at time zone 'UTC'" -%}
        {%- endif -%}
        {%- do sources.update({name: expression}) -%}
    {%- endfor -%}
    {%- set expressions = {} -%}
    {%- for column in input_columns(input.name) -%}
        {%- set expression = sources[column.name] -%}
        {%- do expressions.update({column.name: 'cast(' ~ ('null' if expression is none
            else '(' ~ expression ~ ')') ~ ' as ' ~ column.type ~ ')'}) -%}
    {%- endfor -%}
    {{ return(expressions) }}
{%- endmacro %}


{#-
    The rows of an input with txmon's columns, for its staging model: txmon's own raw table as it
    is, a table of yours or a seed through the column mapping, or no rows when the input is off.
-#}
{#- txmon's own tables too: a schema of yours made for an earlier release may lack a column
    added since (the counts' dimension columns), which it never gets, and reads as empty. -#}
{% macro input_rows(input) -%}
    {%- set columns = [] -%}
    {%- for column, expression in input_expressions(input).items() -%}
        {%- do columns.append(expression ~ ' as ' ~ column) -%}
    {%- endfor -%}
    select
        {{ columns | join(',\n        ') }}
    {{ 'where false' if input.kind == 'off' else 'from ' ~ input_relation(input) }}
{%- endmacro %}


{#- Source freshness of a table of yours: its newest load time as the staging model reads it. -#}
{% macro input_loaded_at_query(input_name) -%}
    {%- set input = txmon_input(input_name) -%}
    select max({{ input_expressions(input)['loaded_at'] }}) from {{ input_relation(input) }}
{%- endmacro %}


{#-
    Whether every input in use says when its rows arrived: txmon's own raw tables do, and so
    does a table or seed whose `columns` maps loaded_at. Then a cycle re-judges only from the
    first minute whose rows arrived since the published build; otherwise (loaded_at defaults to
    the event time) the whole lateness window, since a late row cannot be told from the others.
-#}
{% macro has_load_times() -%}
    {%- for input_name in ['counts', 'transactions'] -%}
        {%- set input = txmon_input(input_name) -%}
        {%- if input.kind not in ['txmon', 'off'] and 'loaded_at' not in input.columns -%}
            {{ return(false) }}
        {%- endif -%}
    {%- endfor -%}
    {{ return(true) }}
{%- endmacro %}


{#-
    The rows of the staging model `model_name` a build reads: those whose `time_column` is in
    the minutes the build recomputes or in the evaluation window's lookback before them. The
    bound is a scalar subquery: a parameter the executor prunes day partitions with and probes
    the indexes on the raw event times with, so the cost follows the new minutes, not the
    history (a join to int_build_window read every partition).
-#}
{% macro rows_read_by_build(model_name, time_column) -%}
    select staged.*
    from {{ ref(model_name) }} as staged
    where
        staged.{{ time_column }}
        >= (select build_window.lookback_from from {{ ref('int_build_window') }} as build_window)
{%- endmacro %}
