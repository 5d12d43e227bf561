{{
    kept_table_config(indexes=[
        {'columns': ['series_id', 'minute_at'], 'unique': True},
    ], recomputed_column='minute_at')
}}

-- The default baseline: each minute is judged against a forecast made from the minutes before
-- it only, so the judged minute is never in its own baseline and later data never change an
-- earlier verdict.
--
-- The forecast is an exponentially weighted level (half-life per metric in the
-- metric_definitions seed). A volume's level is carried along its daily profile
-- (int_metric_profiles_computed): each minute it moves by the profile's ratio from the minute
-- before to this one, so the forecast follows the evening decline and the morning ramp that
-- past days showed, while the level still learns how today differs from them. With no past day
-- the profile is flat and the forecast is the level alone. It learns
-- robustly. An outlier (a minute whose window is beyond the threshold on either side, or a
-- minute two spreads further out) has its deviation clipped to threshold_sigmas spreads, is
-- learnt at outlier_learning_share of the normal rate and does not teach the spread. A minute
-- with fewer transactions than usual teaches a rate less. An anomaly therefore moves the
-- baseline by a small bounded amount per minute and cannot inflate what it is compared with,
-- while a lasting change of level still becomes the new normal in time.
-- Each minute depends on the state left by the one before, hence a recursive walk over the
-- minutes instead of window functions. The state is kept with every minute, so a build walks
-- only the minutes it recomputes, starting from the state stored for the minute before them:
-- a cycle costs what its new minutes cost, and its rows are exactly those a walk over all
-- history would give. In the prototype's mode nothing is walked.
--
-- The spread is the largest of: the learnt spread of the residuals (scaled to the evaluation
-- window), the sampling noise expected at the forecast for the window's volume (binomial for
-- rates, Poisson for volume) and the metric's min_sigma, so a metric that has always been 0
-- still gets a threshold above 0. No minute is judged before min_history_minutes were learnt,
-- and a volume not before its profile has a past day (outages excepted).
--
-- Besides the window's verdict, each minute gets its own: is_deviant when the minute alone is
-- out on the anomalous side by a transaction at least, and either by three minute spreads or
-- by two spreads and half of the highest window deviation the anomaly has had (peak_excess). A
-- window stays anomalous for minutes after a burst has ended; those minutes, back to normal,
-- are not deviant, so persistence (fct_metric_status), which counts anomalous minutes that are
-- also deviant, counts the minutes the anomaly itself lasted. deviant_streak counts deviant
-- minutes in a row, so an episode can count the first minutes of an anomaly that the window
-- needed to notice it.
--
-- An outage: a volume that was expected at outage_min_expected transactions a minute or more
-- receives outage_fraction of its forecast or less. The minute is anomalous at once, and the
-- severity_levels seed says how many such minutes reach which severity.

{%- set sigmas = setting('threshold_sigmas') | float %}
{%- set min_history = setting('min_history_minutes') | int %}
{%- set outlier_share = setting('outlier_learning_share') | float %}
{%- set outage_expected = setting('outage_min_expected') | float %}
{%- set outage_fraction = setting('outage_fraction') | float %}
{%- set sla_ms = setting('latency_sla_ms') %}

with recursive

build_window as (

    select * from {{ ref('int_build_window') }}
    {{- only_in_trailing_mode() }}

),

-- Not materialised, so that each step of the walk reads the table through its index.
metric_minutes as not materialized (

    select * from {{ ref('int_metric_minutes_windowed') }}

),

-- Not materialised either: each step reads the minute and its profile through their indexes.
metric_profiles as not materialized (

    select * from {{ ref('int_metric_profiles_computed') }}

),

judged_minutes as not materialized (

    select
        metric_minutes.*,
        metric_profiles.profile_value,
        coalesce(metric_profiles.profile_days, 0) as profile_days,
        case
            when metric_minutes.metric_kind = 'volume'
                then coalesce(metric_profiles.shape_ratio, 1)
            else 1
        end as shape_ratio

    from metric_minutes
    left join metric_profiles
        on
            metric_minutes.series_id = metric_profiles.series_id
            and metric_minutes.minute_index = metric_profiles.minute_index

),

-- Where the walk starts: a metric's first minute with an empty state (the first minute of data,
-- or the first minute a status was seen for a rate watched automatically), or the state stored
-- for the minute before the first recomputed one.
stored_states as (

    {%- if is_incremental() %}
        select
            stored_state.series_id,
            stored_state.minute_index,
            stored_state.baseline,
            stored_state.sigma,
            stored_state.threshold,
            stored_state.is_warm,
            stored_state.is_anomalous,
            stored_state.is_outlier,
            stored_state.is_deviant,
            stored_state.deviant_streak,
            stored_state.is_outage,
            stored_state.is_sla_breach,
            stored_state.peak_excess,
            stored_state.state_level,
            stored_state.state_variance,
            stored_state.state_denominator,
            stored_state.learned_minutes

        from {{ this }} as stored_state
        inner join build_window
            on
                not build_window.is_from_scratch
                and stored_state.minute_at = build_window.recompute_from - interval '1 minute'
    {%- else %}
        select
            null::text as series_id,
            null::bigint as minute_index,
            null::float8 as baseline,
            null::float8 as sigma,
            null::float8 as threshold,
            null::boolean as is_warm,
            null::boolean as is_anomalous,
            null::boolean as is_outlier,
            null::boolean as is_deviant,
            null::integer as deviant_streak,
            null::boolean as is_outage,
            null::boolean as is_sla_breach,
            null::float8 as peak_excess,
            null::float8 as state_level,
            null::float8 as state_variance,
            null::float8 as state_denominator,
            null::integer as learned_minutes
        where false
    {%- endif %}

),

first_minutes as (

    select distinct on (metric_minutes.series_id)
        metric_minutes.series_id,
        metric_minutes.minute_index,
        null::float8 as baseline,
        null::float8 as sigma,
        null::float8 as threshold,
        false as is_warm,
        false as is_anomalous,
        false as is_outlier,
        false as is_deviant,
        0 as deviant_streak,
        false as is_outage,
        false as is_sla_breach,
        0::float8 as peak_excess,
        case when metric_minutes.has_data then metric_minutes.value end::float8 as state_level,
        0::float8 as state_variance,
        metric_minutes.denominator::float8 as state_denominator,
        case when metric_minutes.has_data then 1 else 0 end as learned_minutes

    from metric_minutes
    inner join build_window
        on
            build_window.is_from_scratch
            or metric_minutes.minute_at >= build_window.recompute_from
    where metric_minutes.series_id not in (select stored_states.series_id from stored_states)
    order by metric_minutes.series_id, metric_minutes.minute_index

),

starting_states as (

    select * from stored_states
    union all
    select * from first_minutes

),

walk as (

    select * from starting_states

    union all

    select
        judged_minutes.series_id,
        judged_minutes.minute_index,
        judged.baseline,
        judged.sigma,
        judged.threshold,
        judged.is_warm,
        judged.is_anomalous,
        learning.is_outlier,
        judged.is_deviant,
        case when judged.is_deviant then walk.deviant_streak + 1 else 0 end as deviant_streak,
        judged.is_outage,
        judged.is_sla_breach,
        case
            when judged.is_anomalous then greatest(walk.peak_excess, spread.window_excess) else 0
        end as peak_excess,
        {{ flush_to_zero('''
            case
                when not judged_minutes.has_data then forecast.level
                when forecast.level is null then judged_minutes.value
                else forecast.level + learning.rate * learning.clipped_error
            end
        ''') }} as state_level,
        {{ flush_to_zero('''
            case
                when
                    judged_minutes.has_data
                    and forecast.level is not null
                    and not learning.is_outlier
                    then
                        (1 - learning.rate) * forecast.variance
                        + learning.rate * power(learning.clipped_error, 2)
                else forecast.variance
            end
        ''') }} as state_variance,
        {{ flush_to_zero('''
            walk.state_denominator + judged_minutes.smoothing_rate
            * (judged_minutes.denominator - walk.state_denominator)
        ''') }} as state_denominator,
        walk.learned_minutes
        + case when judged_minutes.has_data then 1 else 0 end as learned_minutes

    from walk
    inner join judged_minutes
        on
            walk.series_id = judged_minutes.series_id
            and walk.minute_index + 1 = judged_minutes.minute_index
    -- The step's forecast, spread, verdict and learning, each built on the ones before. They are
    -- lateral subqueries, not CTEs (hence the ST05 exemptions), because they read the previous
    -- step from `walk`, which only this recursive term can reference.
    cross join
        lateral (  -- noqa: ST05
            -- The forecast for this minute: the level learnt from the minutes before it, moved
            -- along the profile; a volume's variance scales with its level.
            select
                walk.state_level * judged_minutes.shape_ratio as level,
                walk.state_variance * judged_minutes.shape_ratio as variance
        ) as forecast
    cross join
        lateral (  -- noqa: ST05
            select
                greatest(
                    sqrt(forecast.variance),
                    {{ sampling_sigma(
                        'judged_minutes.metric_kind',
                        'forecast.level',
                        'judged_minutes.denominator'
                    ) }},
                    judged_minutes.min_sigma
                ) as minute_sigma,
                greatest(
                    sqrt(forecast.variance / judged_minutes.window_minutes),
                    {{ sampling_sigma(
                        'judged_minutes.metric_kind',
                        'forecast.level',
                        'judged_minutes.window_denominator'
                    ) }},
                    judged_minutes.min_sigma
                ) as window_sigma,
                -- How far the minute and its window are out, positive on the anomalous side.
                case when judged_minutes.direction = 'below' then -1 else 1 end
                * (judged_minutes.value - forecast.level) as minute_excess,
                case when judged_minutes.direction = 'below' then -1 else 1 end
                * (judged_minutes.window_value - forecast.level) as window_excess,
                -- Less half a transaction: counts are whole, and a few transactions where one
                -- was expected look further out in spreads than they are.
                case when judged_minutes.direction = 'below' then -1 else 1 end
                * (judged_minutes.value - forecast.level)
                - 0.5 / greatest(judged_minutes.denominator, 1) as corrected_excess,
                walk.learned_minutes >= {{ min_history }} as has_history,
                -- A volume is judged once a past day shows its daily shape: without one, a
                -- morning ramp or an evening decline cannot be told from a surge or a drop.
                -- A dimension value's window must hold its dimension's minimum of
                -- transactions: with fewer, sampling noise outweighs what is worth a page.
                -- Outages need neither.
                walk.learned_minutes >= {{ min_history }}
                and (judged_minutes.metric_kind <> 'volume' or judged_minutes.profile_days >= 1)
                and judged_minutes.window_transactions >= judged_minutes.min_window_transactions
                    as is_warm
        ) as spread
    cross join
        lateral (  -- noqa: ST05
            select
                coalesce(
                    spread.has_history
                    and judged_minutes.metric_kind = 'volume'
                    and judged_minutes.direction = 'below'
                    and forecast.level >= {{ outage_expected }}
                    and judged_minutes.value <= {{ outage_fraction }} * forecast.level,
                    false
                ) as is_outage,
                -- Above the latency SLA: whatever the history says, the minute is out.
                {%- if sla_ms is not none %}
                    coalesce(
                        judged_minutes.metric_name = 'latency_p95_ms'
                        and judged_minutes.has_data
                        and judged_minutes.value > {{ sla_ms }},
                        false
                    )
                {%- else %}
                    false
                {%- endif %} as is_sla_breach
        ) as outage
    cross join
        lateral (  -- noqa: ST05
            select
                forecast.level as baseline,
                spread.window_sigma as sigma,
                case
                    when judged_minutes.direction = 'below'
                        then forecast.level - {{ sigmas }} * spread.window_sigma
                    else forecast.level + {{ sigmas }} * spread.window_sigma
                end as threshold,
                spread.is_warm,
                outage.is_outage,
                outage.is_sla_breach,
                outage.is_outage or outage.is_sla_breach or coalesce(
                    spread.is_warm
                    and judged_minutes.window_has_data
                    and spread.window_excess > {{ sigmas }} * spread.window_sigma,
                    false
                ) as is_anomalous,
                -- At least one transaction more than forecast, and either far out (three
                -- spreads) or by two spreads and half the highest window deviation of this
                -- anomaly so far (closer to the anomaly than to the forecast): the minutes
                -- after a burst, back to normal while its window still lingers, are neither.
                outage.is_outage or outage.is_sla_breach or coalesce(
                    spread.is_warm
                    and judged_minutes.has_data
                    and spread.minute_excess * case
                        when judged_minutes.metric_kind <> 'volume' then judged_minutes.denominator
                        else 1
                    end >= 1
                    and (
                        spread.corrected_excess > 3 * spread.minute_sigma
                        or spread.corrected_excess > greatest(
                            2 * spread.minute_sigma,
                            0.5 * greatest(walk.peak_excess, spread.window_excess)
                        )
                    ),
                    false
                ) as is_deviant
        ) as judged
    cross join
        lateral (  -- noqa: ST05
            -- An outlier is a minute whose window is beyond the threshold on either side, a
            -- single minute far beyond it (the first minutes of an outage) or an outage;
            -- outliers are only recognised once the spread has been learnt from history.
            select
                outage.is_outage or coalesce(
                    spread.is_warm
                    and (
                        judged_minutes.window_has_data
                        and abs(spread.window_excess) > {{ sigmas }} * spread.window_sigma
                        or abs(spread.minute_excess) > {{ sigmas + 2 }} * spread.minute_sigma
                    ),
                    false
                ) as is_outlier,
                -- A minute with fewer transactions than usual says less about a rate: during an
                -- outage, three transactions must not move the baseline.
                coalesce(
                    least(judged_minutes.denominator / nullif(walk.state_denominator, 0), 1), 1
                ) as weight
        ) as deviation
    cross join
        lateral (  -- noqa: ST05
            select
                deviation.is_outlier,
                deviation.weight,
                -- Only outliers are clipped: clipping the ordinary spikes of a skewed,
                -- low-count rate would bias its baseline downwards.
                case
                    when deviation.is_outlier
                        then
                            greatest(
                                least(
                                    judged_minutes.value - forecast.level,
                                    {{ sigmas }} * spread.minute_sigma
                                ),
                                -{{ sigmas }} * spread.minute_sigma
                            )
                    else judged_minutes.value - forecast.level
                end as clipped_error,
                -- Plain averaging while history is short, exponential forgetting afterwards;
                -- an outlying minute is learnt at a fraction of that rate.
                greatest(judged_minutes.smoothing_rate, 1.0 / (walk.learned_minutes + 1))
                * case when deviation.is_outlier then {{ outlier_share }} else 1 end
                * deviation.weight as rate
        ) as learning

),

final as (

    select
        metric_minutes.series_id,
        metric_minutes.metric_name,
        metric_minutes.dimension_name,
        metric_minutes.dimension_value,
        metric_minutes.minute_at,
        metric_minutes.minute_index,
        metric_minutes.metric_kind,
        metric_minutes.direction,
        metric_minutes.total_transactions,
        metric_minutes.numerator,
        metric_minutes.denominator,
        metric_minutes.value,
        metric_minutes.has_data,
        metric_minutes.window_has_data as has_window_data,
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
        walk.is_outlier,
        walk.is_deviant,
        walk.deviant_streak,
        walk.is_outage,
        walk.is_sla_breach,
        walk.peak_excess,
        metric_minutes.profile_value,
        'trailing' as baseline_mode,
        walk.state_level,
        walk.state_variance,
        walk.state_denominator,
        walk.learned_minutes

    from walk
    inner join judged_minutes as metric_minutes
        on
            walk.series_id = metric_minutes.series_id
            and walk.minute_index = metric_minutes.minute_index
    inner join build_window
        on
            metric_minutes.minute_at >= build_window.recompute_from
            or build_window.is_from_scratch

)

select * from final
