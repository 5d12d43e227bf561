{#-
    A carried state that decays geometrically (a level or a variance that keeps shrinking
    while a metric stays at 0, a denominator through a long gap) would, after enough minutes,
    leave the range of double precision, and PostgreSQL raises an underflow error instead of
    returning 0. Values below 1e-150 are therefore taken as 0: far below any rate or count
    that matters, and far enough from the limit that squaring them stays in range.
-#}
{% macro flush_to_zero(expression) -%}
    case
        when abs({{ expression }}) < 1e-150 then 0::float8
        else ({{ expression }})::float8
    end
{%- endmacro %}
