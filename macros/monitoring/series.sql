{#-
    A series is a metric computed for all transactions or for one value of a dimension. Its id
    names the three in one text, `failed_rate` for all transactions and
    `failed_rate[acquirer=stone]` for one acquirer, so that the series is one key everywhere.
-#}
{% macro series_id(metric_name, dimension_name, dimension_value) -%}
    case
        when {{ dimension_name }} = 'all' then {{ metric_name }}
        else {{ metric_name }} || '[' || {{ dimension_name }} || '=' || {{ dimension_value }} || ']'
    end
{%- endmacro %}

{#-
    The value of a transaction's column named by `source_column` (a column of the
    monitored_dimensions seed), null when the transaction has none: one case over the columns
    the seed may name, so that a dimension is data, not SQL.
-#}
{% macro dimension_value_of(relation, source_column) -%}
    nullif(
        trim(
            case {{ source_column }}
                {%- for column in ['channel', 'product', 'acquirer', 'card_type', 'auth_code'] %}
                when '{{ column }}' then {{ relation }}.{{ column }}
                {%- endfor %}
            end
        ),
        ''
    )
{%- endmacro %}

{#-
    How a message names a series: the metric in capitals, and the dimension's value when the
    series is one value's (`FAILED_RATE [acquirer=stone]`).
-#}
{% macro series_label(metric_name, dimension_name, dimension_value) -%}
    upper({{ metric_name }}) || case
        when {{ dimension_name }} = 'all' then ''
        else ' [' || {{ dimension_name }} || '=' || {{ dimension_value }} || ']'
    end
{%- endmacro %}
