{#-
    How many judged healthy minutes end an episode (var recovery_minutes). An anomaly that comes
    back sooner continues the same episode. Unset, it is 5 for the trailing model and 0 for the
    prototype model, which recovered on the first healthy minute.
-#}
{% macro recovery_minutes() -%}
    {%- set configured = setting('recovery_minutes') -%}
    {%- if configured is none or configured == '' -%}
        {{ return(0 if setting('baseline_mode') == 'prototype' else 5) }}
    {%- else -%}
        {{ return(configured | int) }}
    {%- endif -%}
{%- endmacro %}
