{#-
    In the prototype's mode the trailing baseline's models compute nothing: the condition their
    read of int_build_window ends with.
-#}
{% macro only_in_trailing_mode() -%}
    {%- if setting('baseline_mode') == 'prototype' %}
    where false
    {%- endif %}
{%- endmacro %}
