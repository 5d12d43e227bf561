{#-
    Every minute from the first to the last is present, once, per partition: the minute grid has no
    holes (an outage must be a row of zeros, never a missing minute).
-#}
{% test contiguous_minutes(model, column_name, partition_by=none) %}

with

minutes as (

    select
        {% if partition_by %}{{ partition_by }}{% else %}1{% endif %} as partition_key,
        {{ column_name }} as minute_at

    from {{ model }}

),

spans as (

    select
        partition_key,
        count(*) as minute_rows,
        count(distinct minute_at) as distinct_minutes,
        extract(epoch from max(minute_at) - min(minute_at)) / 60 + 1 as expected_minutes,
        count(*) filter (where minute_at <> date_trunc('minute', minute_at)) as unaligned_minutes

    from minutes
    group by partition_key

),

violations as (

    select * from spans
    where
        minute_rows <> expected_minutes
        or distinct_minutes <> minute_rows
        or unaligned_minutes > 0

)

select * from violations

{% endtest %}
