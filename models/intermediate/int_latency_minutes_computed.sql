{{ config(post_hook=['analyze {{ this }}']) }}

-- Per minute and series cut, the transactions that have a duration_ms and the latency metrics
-- over them: the median and the 95th percentile (percentile_cont, interpolated), for all
-- transactions and for each value of each monitored dimension (values beyond the cap pooled
-- into `other`, whose percentiles are over the pooled transactions). Only the minutes the build
-- reads, as for the status counts; pre-aggregated counts carry no durations.

with

transactions_read as (

    {{ rows_read_by_build('stg_txmon_raw__transactions', 'created_at') }}

),

monitored_dimensions as (

    select * from {{ ref('monitored_dimensions') }}

),

dimension_values as (

    select * from {{ ref('int_dimension_values_ranked') }}

),

transactions as (

    select * from transactions_read
    where duration_ms is not null

),

overall as (

    select
        minute_at,
        'all' as dimension_name,
        'all' as dimension_value,
        duration_ms

    from transactions

),

by_dimension as (

    select
        transactions.minute_at,
        monitored_dimensions.dimension_name,
        dimension_values.series_value as dimension_value,
        transactions.duration_ms

    from transactions
    cross join monitored_dimensions
    inner join dimension_values
        on
            monitored_dimensions.dimension_name = dimension_values.dimension_name
            and {{ dimension_value_of('transactions', 'monitored_dimensions.source_column') }}
            = dimension_values.dimension_value

),

timed as (

    select * from overall
    union all
    select * from by_dimension

),

percentiles as (

    select
        minute_at,
        dimension_name,
        dimension_value,
        {%- for metric_name, quantile in latency_quantiles().items() %}
            percentile_cont({{ quantile }}) within group (order by duration_ms)
                as {{ metric_name }},
        {%- endfor %}
        count(*)::bigint as timed_transactions

    from timed
    group by minute_at, dimension_name, dimension_value

),

final as (

    {%- for metric_name in latency_quantiles() %}
        select
            minute_at,
            dimension_name,
            dimension_value,
            '{{ metric_name }}' as metric_name,
            timed_transactions,
            {{ metric_name }}::float8 as duration_ms
        from percentiles
        {{ "union all" if not loop.last }}
    {%- endfor %}

)

select * from final
