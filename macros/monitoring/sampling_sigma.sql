{#-
    Standard deviation that sampling alone gives a metric at `expected` over `denominator`:
    binomial for a rate (p (1 - p) / n), Poisson for a volume averaged over n minutes (λ / n).
    It keeps thresholds honest where history has too little spread (a metric always 0) and
    widens them for minutes with few transactions.
-#}
{% macro sampling_sigma(metric_kind, expected, denominator) -%}
    case
        when {{ metric_kind }} = 'rate'
            then sqrt(
                greatest({{ expected }} * (1 - {{ expected }}), 0) / greatest({{ denominator }}, 1)
            )
        else sqrt(greatest({{ expected }}, 0) / greatest({{ denominator }}, 1))
    end
{%- endmacro %}
