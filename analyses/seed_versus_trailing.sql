-- The prototype's verdict next to the default's for every minute: where they disagree.
-- Both baselines are always built, whichever mode the public views use.

with

trailing_baselines as (

    select * from {{ ref('int_metric_baselines_trailing') }}

),

seed_baselines as (

    select * from {{ ref('int_metric_baselines_seed') }}

),

final as (

    select
        trailing_baselines.metric_name,
        trailing_baselines.minute_at,
        trailing_baselines.value,
        trailing_baselines.threshold as trailing_threshold,
        seed_baselines.threshold as seed_threshold,
        trailing_baselines.is_anomalous as is_anomalous_trailing,
        seed_baselines.is_anomalous as is_anomalous_seed

    from trailing_baselines
    inner join seed_baselines
        on
            trailing_baselines.metric_name = seed_baselines.metric_name
            and trailing_baselines.minute_at = seed_baselines.minute_at
    where trailing_baselines.is_anomalous <> seed_baselines.is_anomalous
    order by trailing_baselines.metric_name, trailing_baselines.minute_at

)

select * from final
