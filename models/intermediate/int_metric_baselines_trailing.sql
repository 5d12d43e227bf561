-- The default baseline: each minute is judged against an exponentially weighted mean and spread
-- of the minutes before it, so the judged minute is never in its own baseline and later data
-- never change an earlier verdict. Outlying minutes (beyond the threshold on either side) do not
-- enter the baseline, so an anomaly cannot inflate what it is compared with, until
-- max_excluded_minutes have passed and a lasting change becomes the new normal.
-- That rule makes each minute depend on the verdict of the one before, hence a recursive walk
-- over the minutes instead of a window function.
--
-- spread = the largest of: the baseline's own spread scaled to the evaluation window, the
-- sampling noise expected for the window's volume (binomial for rates, Poisson for volume) and
-- the metric's min_sigma, so a metric that has always been 0 does not get a zero threshold.

{%- set half_life = var('baseline_half_life_minutes') | float %}
{%- set decay = 0.5 ** (1.0 / half_life) %}
{%- set sigmas = var('threshold_sigmas') | float %}
{%- set min_history = var('min_history_minutes') | int %}
{%- set max_excluded = var('max_excluded_minutes') | int %}

with recursive

-- Not materialised, so that each step of the walk uses the table's index instead of a scan.
metric_minutes as not materialized (

    select * from {{ ref('int_metric_minutes_windowed') }}

),

walk as (

    select
        metric_minutes.metric_name,
        metric_minutes.minute_index,
        null::float8 as baseline,
        null::float8 as sigma,
        null::float8 as threshold,
        false as is_warm,
        false as is_anomalous,
        false as is_learning,
        case when metric_minutes.has_data then 1 else 0 end::float8 as state_weight,
        case when metric_minutes.has_data then metric_minutes.value else 0 end::float8 as state_sum,
        case
            when metric_minutes.has_data then metric_minutes.value * metric_minutes.value else 0
        end::float8 as state_square_sum,
        case when metric_minutes.has_data then 1 else 0 end as learned_minutes,
        0 as excluded_streak

    from metric_minutes
    where metric_minutes.minute_index = 0

    union all

    select
        metric_minutes.metric_name,
        metric_minutes.minute_index,
        judged.baseline,
        judged.sigma,
        judged.threshold,
        judged.is_warm,
        judged.is_anomalous,
        learning.is_learning,
        case
            when learning.is_learning then walk.state_weight * {{ decay }} + 1
            else walk.state_weight
        end as state_weight,
        case
            when learning.is_learning then walk.state_sum * {{ decay }} + metric_minutes.value
            else walk.state_sum
        end as state_sum,
        case
            when learning.is_learning
                then walk.state_square_sum * {{ decay }} + metric_minutes.value * metric_minutes.value
            else walk.state_square_sum
        end as state_square_sum,
        walk.learned_minutes + case when learning.is_learning then 1 else 0 end as learned_minutes,
        case when judged.is_outlier then walk.excluded_streak + 1 else 0 end as excluded_streak

    from walk
    inner join metric_minutes
        on
            walk.metric_name = metric_minutes.metric_name
            and walk.minute_index + 1 = metric_minutes.minute_index
    cross join lateral (
        select
            walk.state_sum / nullif(walk.state_weight, 0) as mean,
            greatest(
                walk.state_square_sum / nullif(walk.state_weight, 0)
                - power(walk.state_sum / nullif(walk.state_weight, 0), 2),
                0
            ) as variance
    ) as state
    cross join lateral (
        select
            greatest(
                sqrt(state.variance / metric_minutes.window_minutes),
                case
                    when metric_minutes.metric_kind = 'rate'
                        then sqrt(
                            greatest(state.mean * (1 - state.mean), 0)
                            / greatest(metric_minutes.window_denominator, 1)
                        )
                    else sqrt(greatest(state.mean, 0) / greatest(metric_minutes.window_denominator, 1))
                end,
                metric_minutes.min_sigma
            ) as sigma
    ) as spread
    cross join lateral (
        select
            state.mean as baseline,
            spread.sigma,
            case
                when metric_minutes.direction = 'below' then state.mean - {{ sigmas }} * spread.sigma
                else state.mean + {{ sigmas }} * spread.sigma
            end as threshold,
            walk.learned_minutes >= {{ min_history }} as is_warm,
            coalesce(
                walk.learned_minutes >= {{ min_history }}
                and metric_minutes.window_has_data
                and abs(metric_minutes.window_value - state.mean) > {{ sigmas }} * spread.sigma,
                false
            ) as is_outlier
    ) as deviation
    cross join lateral (
        select
            deviation.*,
            deviation.is_outlier
            and case
                when metric_minutes.direction = 'below' then metric_minutes.window_value < state.mean
                else metric_minutes.window_value > state.mean
            end as is_anomalous
    ) as judged
    cross join lateral (
        select
            metric_minutes.has_data
            and (not judged.is_outlier or walk.excluded_streak >= {{ max_excluded }}) as is_learning
    ) as learning

),

final as (

    select
        metric_minutes.metric_name,
        metric_minutes.minute_at,
        metric_minutes.minute_index,
        metric_minutes.metric_kind,
        metric_minutes.direction,
        metric_minutes.total_transactions,
        metric_minutes.numerator,
        metric_minutes.denominator,
        metric_minutes.value,
        metric_minutes.has_data,
        metric_minutes.window_numerator,
        metric_minutes.window_denominator,
        metric_minutes.window_minutes,
        metric_minutes.window_value as judged_value,
        walk.baseline,
        walk.sigma,
        walk.threshold,
        (metric_minutes.window_value - walk.baseline) / nullif(walk.sigma, 0) as z_score,
        walk.is_warm,
        walk.is_anomalous,
        walk.is_learning as is_in_baseline,
        'trailing' as baseline_mode

    from walk
    inner join metric_minutes
        on
            walk.metric_name = metric_minutes.metric_name
            and walk.minute_index = metric_minutes.minute_index

)

select * from final
