{{
    config(
        indexes=[
            {'columns': ['metric_name', 'minute_index'], 'unique': True},
        ],
        post_hook=['analyze {{ this }}'],
    )
}}

-- Each series' daily profile at the minutes this build judges, and how it moves from the
-- minute before: what the trailing baseline carries its level along.
--
-- The profile of a minute is the metric over the 31 minutes around the same minute of day on
-- the seven days before: past days only, and robust to an unusual day (an incident, an outage)
-- since from three past days on the highest and the lowest day are left out. Once two weeks
-- exist it is the median of the same weekday one and two weeks before and that daily profile,
-- so weekends follow weekends. Its step from the minute before is measured on one profile
-- (weekly or daily), so that switching profiles never looks like a change. With no past day the
-- profile is null and both steps are neutral.
--
-- A minute of day is a minute of the UTC day (minute_index modulo 1440); a week is 7 such days.

{%- set profile_radius = 15 %}
{%- set day = 1440 %}
{%- set week = 7 * day %}

with

build_window as (

    select
        *,
        is_full_refresh or recompute_from = first_minute_at as is_from_scratch

    from {{ ref('int_build_window') }}
    {%- if setting('baseline_mode') == 'prototype' %}
    where false
    {%- endif %}

),

kept_minutes as (

    select * from {{ ref('int_metric_minutes_kept') }}

),

-- The minutes to profile (and the one before them), and the minutes around the same minutes of
-- day on the past days a profile reads: each metric and past day read as one index range.
profile_inputs as (

    select distinct
        kept_minutes.metric_name,
        kept_minutes.minute_index,
        kept_minutes.numerator,
        kept_minutes.denominator

    from build_window
    cross join
        unnest(array[0, 1, 2, 3, 4, 5, 6, 7, 14]) as past_days (days_back)
    inner join kept_minutes
        on
            build_window.is_from_scratch
            or kept_minutes.minute_index between
            {{ minute_number('build_window.recompute_from') }}
            - past_days.days_back * {{ day }} - {{ profile_radius + 1 }}
            and {{ minute_number('build_window.newest_minute_at') }}
            - past_days.days_back * {{ day }} + {{ profile_radius }}
    where not build_window.is_from_scratch or past_days.days_back = 0

),

-- The metric over the 31 minutes around each minute.
neighbourhoods as (

    select
        metric_name,
        minute_index,
        sum(denominator) over neighbourhood as denominator,
        sum(numerator) over neighbourhood::float8
        / nullif(sum(denominator) over neighbourhood, 0) as neighbourhood_value

    from profile_inputs
    window neighbourhood as (
        partition by metric_name
        order by minute_index
        range between {{ profile_radius }} preceding and {{ profile_radius }} following
    )

),

-- The same minute of day on the past seven days, and of the week one and two weeks before.
past_days as (

    select
        metric_name,
        minute_index,
        count(neighbourhood_value) over past_days as daily_days,
        sum(neighbourhood_value) over past_days as daily_sum,
        max(neighbourhood_value) over past_days as daily_highest,
        min(neighbourhood_value) over past_days as daily_lowest,
        min(denominator) over past_days as daily_least_denominator,
        count(neighbourhood_value) over past_weeks as weekly_days,
        sum(neighbourhood_value) over past_weeks as weekly_sum,
        max(neighbourhood_value) over past_weeks as weekly_highest,
        min(neighbourhood_value) over past_weeks as weekly_lowest

    from neighbourhoods
    window
        past_days as (
            partition by metric_name, minute_index % {{ day }}
            order by minute_index
            range between {{ week }} preceding and {{ day }} preceding
        ),
        past_weeks as (
            partition by metric_name, minute_index % {{ week }}
            order by minute_index
            range between {{ 2 * week }} preceding and {{ week }} preceding
        )

),

-- Robust to one unusual day: from three days on, the highest and lowest are left out (with
-- three, that is the median), and two days that disagree give no profile; the weekly
-- profile is the median of the two past weeks and the daily profile.
daily_profiles as (

    select
        *,
        case
            when daily_days >= 3
                then (daily_sum - daily_highest - daily_lowest) / (daily_days - 2)
            -- Two days that disagree beyond counting noise (and by more than 5 %): which one
            -- was unusual is unknown, so neither is followed.
            when
                daily_days = 2
                and daily_highest > 1.05 * daily_lowest
                + 3 * sqrt((daily_highest + daily_lowest) / {{ 2 * profile_radius + 1 }})
                then null
            when daily_days > 0 then daily_sum / daily_days
        end as daily_profile

    from past_days

),

profiles as (

    select
        *,
        case
            when weekly_days = 2 and daily_profile is not null
                then
                    weekly_sum + daily_profile
                    - greatest(weekly_highest, daily_profile)
                    - least(weekly_lowest, daily_profile)
        end as weekly_profile

    from daily_profiles

),

-- The step from the minute before, measured on one profile (weekly when both minutes have it,
-- else daily) so that switching profiles never looks like a change.
profile_steps as (

    select
        profiles.metric_name,
        profiles.minute_index,
        profiles.daily_least_denominator,
        coalesce(profiles.weekly_profile, profiles.daily_profile) as profile_value,
        case
            when profiles.weekly_profile is not null and lag(profiles.weekly_profile) over by_minute is not null
                then profiles.weekly_profile
            else profiles.daily_profile
        end as current_profile,
        case
            when profiles.weekly_profile is not null and lag(profiles.weekly_profile) over by_minute is not null
                then lag(profiles.weekly_profile) over by_minute
            else lag(profiles.daily_profile) over by_minute
        end as previous_profile

    from profiles
    inner join build_window
        on
            build_window.is_from_scratch
            or profiles.minute_index
            >= {{ minute_number('build_window.recompute_from') }} - 1
    window by_minute as (
        partition by profiles.metric_name
        order by profiles.minute_index
    )

),

-- A volume's level is multiplied by shape_ratio (a transaction per neighbourhood added to both
-- sides, so that an empty night gives a finite ratio; bounded to halving or doubling in a
-- minute). A rate's level moves by shape_shift, only where every past day had at least
-- 10 transactions a minute around this minute: below that a rate's profile is mostly noise.
seasonal_steps as (

    select
        metric_name,
        minute_index,
        profile_value,
        case
            when current_profile is not null and previous_profile is not null
                then
                    least(
                        greatest(
                            (current_profile + {{ 1.0 / (2 * profile_radius + 1) }})
                            / (previous_profile + {{ 1.0 / (2 * profile_radius + 1) }}),
                            0.5
                        ),
                        2.0
                    )
            else 1
        end as shape_ratio,
        case
            when daily_least_denominator >= {{ 10 * (2 * profile_radius + 1) }}
                then coalesce(current_profile - previous_profile, 0)
            else 0
        end as shape_shift

    from profile_steps

),

final as (

    select
        seasonal_steps.metric_name,
        seasonal_steps.minute_index,
        seasonal_steps.profile_value,
        seasonal_steps.shape_ratio,
        seasonal_steps.shape_shift

    from seasonal_steps
    inner join build_window
        on
            build_window.is_from_scratch
            or seasonal_steps.minute_index >= {{ minute_number('build_window.recompute_from') }}

)

select * from final
