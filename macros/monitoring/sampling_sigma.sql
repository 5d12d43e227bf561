{#-
    Standard deviation that sampling alone gives a metric at `expected` over `denominator`:
    binomial for a rate or a share (p (1 - p) / n), Poisson for a volume averaged over n
    minutes (λ / n), and for a latency percentile over n transactions about 1.5 times the
    percentile over √n (a sample quantile's spread, √(q (1 - q) / n) over the density there,
    is 1.4 to 1.5 times the quantile over √n for the median and the 95th percentile of an
    exponential tail, the widest latencies usually have). It keeps thresholds honest where
    history has too little spread (a metric always 0) and widens them for minutes with few
    transactions.
-#}
{% macro sampling_sigma(metric_kind, expected, denominator) -%}
    case
        when {{ metric_kind }} = 'volume'
            then sqrt(greatest({{ expected }}, 0) / greatest({{ denominator }}, 1))
        when {{ metric_kind }} = 'latency'
            then 1.5 * greatest({{ expected }}, 0) / sqrt(greatest({{ denominator }}, 1))
        else
            sqrt(
                greatest({{ expected }} * (1 - {{ expected }}), 0) / greatest({{ denominator }}, 1)
            )
    end
{%- endmacro %}
