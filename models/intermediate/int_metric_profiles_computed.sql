{{
    config(
        indexes=[
            {'columns': ['series_id', 'minute_index'], 'unique': True},
        ],
        post_hook=['analyze {{ this }}'],
    )
}}

-- Each series' daily profile at the minutes this build judges, and how it moves from the
-- minute before: what the trailing baseline carries a volume's level along.
--
-- The profile of a minute is the series over the 31 minutes around the same minute of day on
-- the seven days before: past days only, each scaled to the typical day's level, and robust
-- to unusual days (an incident, an outage) since it is their median (with one or two past
-- days, the smaller of their steps is taken). Once two weeks exist it is the median of the same
-- weekday one and two weeks before and that daily profile, so weekends follow weekends. A
-- volume's level moves along it (shape_ratio); with no past day the profile is null and the
-- ratio neutral.
--
-- A minute of day is a minute of the UTC day (minute_index modulo 1440); a week is 7 such days.

{%- set profile_radius = 15 %}
{#- A transaction per neighbourhood: keeps a ratio of empty nights finite. -#}
{%- set one_transaction = 1.0 / (2 * profile_radius + 1) %}
{%- set day = 1440 %}
{%- set week = 7 * day %}

with

build_window as (

    select * from {{ ref('int_build_window') }}
    {{- only_in_trailing_mode() }}

),

-- Not materialised: read twice below, each time through the index.
kept_minutes as not materialized (

    select * from {{ ref('int_metric_minutes_kept') }}

),

kept_days as (

    select * from {{ ref('int_metric_days_summed') }}

),

-- In a cycle: the minutes to profile (and the one before them), and the minutes around the same
-- minutes of day on the past days a profile reads, each past day one range of the index.
recomputed_ranges as (

    select
        {{ minute_number('build_window.recompute_from') }}
        - past_days.days_back * {{ day }} - {{ profile_radius + 1 }} as first_index,
        {{ minute_number('build_window.newest_minute_at') }}
        - past_days.days_back * {{ day }} + {{ profile_radius }} as last_index

    from build_window
    cross join
        unnest(array[0, 1, 2, 3, 4, 5, 6, 7, 14]) as past_days (days_back)
    where not build_window.is_from_scratch

),

-- A build from scratch reads every kept minute, a cycle the ranges above: two branches, not one
-- join with an OR, which kept the planner from the index and read the whole table each cycle.
profile_inputs as (

    select
        kept_minutes.series_id,
        kept_minutes.minute_index,
        kept_minutes.numerator,
        kept_minutes.denominator

    from kept_minutes
    where (select build_window.is_from_scratch from build_window)

    union all

    -- Lateral: one index range per past day, whatever the estimates say (a hash join read
    -- the whole table). Distinct: the ranges of a window longer than a day overlap.
    select distinct
        in_range.series_id,
        in_range.minute_index,
        in_range.numerator,
        in_range.denominator

    from recomputed_ranges
    cross join lateral (
        select
            kept_minutes.series_id,
            kept_minutes.minute_index,
            kept_minutes.numerator,
            kept_minutes.denominator
        from kept_minutes
        where
            kept_minutes.minute_index
            between recomputed_ranges.first_index and recomputed_ranges.last_index
    ) as in_range

),

-- The series over the 31 minutes around each minute.
neighbourhoods as (

    select
        series_id,
        minute_index,
        sum(denominator) over neighbourhood as denominator,
        sum(numerator) over neighbourhood::float8
        / nullif(sum(denominator) over neighbourhood, 0) as neighbourhood_value

    from profile_inputs
    window neighbourhood as (
        partition by series_id
        order by minute_index
        range between {{ profile_radius }} preceding and {{ profile_radius }} following
    )

),

-- How each day's neighbourhood moved from the minute before (a transaction per neighbourhood
-- added to both sides, so that an empty night gives a finite ratio), and the level of its day.
neighbourhood_steps as (

    select
        neighbourhoods.*,
        case
            when lag(neighbourhoods.minute_index) over by_minute = neighbourhoods.minute_index - 1
                then
                    (neighbourhoods.neighbourhood_value + {{ one_transaction }})
                    / (
                        lag(neighbourhoods.neighbourhood_value) over by_minute
                        + {{ one_transaction }}
                    )
        end as step_ratio,
        kept_days.numerator::float8 / nullif(kept_days.denominator, 0) as day_level

    from neighbourhoods
    left join kept_days
        on
            neighbourhoods.series_id = kept_days.series_id
            and neighbourhoods.minute_index / {{ day }} = kept_days.day_index
    window by_minute as (
        partition by neighbourhoods.series_id order by neighbourhoods.minute_index
    )

),

-- The same minute of day on the past seven days, and of the week one and two weeks before.
past_days as (

    select
        series_id,
        minute_index,
        count(neighbourhood_value) over past_days as profile_days,
        array_agg(neighbourhood_value) over past_days as daily_values,
        array_agg(day_level) over past_days as day_levels,
        max(step_ratio) over past_days as highest_step,
        min(step_ratio) over past_days as lowest_step,
        count(neighbourhood_value) over past_weeks as weekly_days,
        max(neighbourhood_value) over past_weeks as weekly_highest,
        min(neighbourhood_value) over past_weeks as weekly_lowest

    from neighbourhood_steps
    window
        past_days as (
            partition by series_id, minute_index % {{ day }}
            order by minute_index
            range between {{ week }} preceding and {{ day }} preceding
        ),
        past_weeks as (
            partition by series_id, minute_index % {{ week }}
            order by minute_index
            range between {{ 2 * week }} preceding and {{ week }} preceding
        )

),

-- The median of the past days compared by shape: each day's value is scaled by the typical
-- day's level (the median of their levels) over its own, so that days lower all day long (a
-- weekend, a holiday) count like the others, and up to three days of seven with an incident at
-- this time of day do not move it. Once two weeks exist, the median of the same weekday one and
-- two weeks before and that daily profile, so weekends follow weekends.
profiles as (

    select
        past_days.series_id,
        past_days.minute_index,
        past_days.profile_days,
        past_days.highest_step,
        past_days.lowest_step,
        daily.daily_profile,
        case
            when past_days.weekly_days = 2 and daily.daily_profile is not null
                then
                    past_days.weekly_highest + past_days.weekly_lowest + daily.daily_profile
                    - greatest(past_days.weekly_highest, daily.daily_profile)
                    - least(past_days.weekly_lowest, daily.daily_profile)
        end as weekly_profile

    from past_days
    inner join build_window
        on
            build_window.is_from_scratch
            or past_days.minute_index >= {{ minute_number('build_window.recompute_from') }} - 1
    cross join
        lateral (
            select percentile_cont(0.5) within group (order by day_level) as typical_level
            from unnest(past_days.day_levels) as day_level
        ) as typical
    cross join
        lateral (
            select
                percentile_cont(0.5) within group (
                    order by
                        case
                            when past.day_level > 0
                                then past.day_value * typical.typical_level / past.day_level
                            else past.day_value
                        end
                ) as daily_profile
            from unnest(past_days.daily_values, past_days.day_levels) as past (day_value, day_level)
        ) as daily

),

-- The step from the minute before, measured on one profile (weekly when both minutes have it,
-- else daily) so that switching profiles never looks like a change. Steps of a profile add up
-- to the profile itself, so an incident that bent it for a while leaves no lasting offset.
profile_steps as (

    select
        series_id,
        minute_index,
        profile_days,
        weekly_profile is not null as is_weekly,
        -- With one or two past days there is no median to lean on: of their own steps the
        -- smaller is taken, since a day with an incident moves far where a normal day does not.
        case
            when abs(ln(highest_step)) < abs(ln(lowest_step)) then highest_step else lowest_step
        end as smaller_step,
        coalesce(weekly_profile, daily_profile) as profile_value,
        case
            when weekly_profile is not null and lag(weekly_profile) over by_minute is not null
                then weekly_profile
            else daily_profile
        end as current_profile,
        case
            when weekly_profile is not null and lag(weekly_profile) over by_minute is not null
                then lag(weekly_profile) over by_minute
            else lag(daily_profile) over by_minute
        end as previous_profile

    from profiles
    window by_minute as (partition by series_id order by minute_index)

),

-- A volume's level is multiplied by shape_ratio: a transaction per neighbourhood is added to
-- both sides, so that an empty night gives a finite ratio, and it is bounded to halving or
-- doubling in a minute. A rate's level does not follow its profile: with few past days a
-- rate's profile moves with their incidents and noise more than with any daily pattern, and
-- its trailing level follows slow changes on its own.
seasonal_final as (

    select
        series_id,
        minute_index,
        profile_days,
        profile_value,
        case
            when not is_weekly and profile_days between 1 and 2 and smaller_step is not null
                then least(greatest(smaller_step, 0.5), 2.0)
            when current_profile is null or previous_profile is null then 1
            else
                least(
                    greatest(
                        (current_profile + {{ one_transaction }})
                        / (previous_profile + {{ one_transaction }}),
                        0.5
                    ),
                    2.0
                )
        end as shape_ratio

    from profile_steps

),

final as (

    select
        seasonal_final.series_id,
        seasonal_final.minute_index,
        seasonal_final.profile_days::integer as profile_days,
        seasonal_final.profile_value,
        seasonal_final.shape_ratio

    from seasonal_final
    inner join build_window
        on
            build_window.is_from_scratch
            or seasonal_final.minute_index >= {{ minute_number('build_window.recompute_from') }}

)

select * from final
