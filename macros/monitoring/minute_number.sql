{#-
    Minutes since 1970-01-01 UTC: a stable number for a minute, whichever build computed it, so
    that runs of consecutive minutes can be found by arithmetic.
-#}
{% macro minute_number(column) -%}
    (extract(epoch from {{ column }}) / 60)::integer
{%- endmacro %}
