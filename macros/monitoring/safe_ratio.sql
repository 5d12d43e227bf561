{#-
    numerator / denominator as double precision, 0 when the denominator is 0: the prototype's
    definition of a rate for a minute without transactions.
-#}
{% macro safe_ratio(numerator, denominator) -%}
    case
        when {{ denominator }} > 0 then {{ numerator }}::float8 / {{ denominator }}
        else 0
    end
{%- endmacro %}
