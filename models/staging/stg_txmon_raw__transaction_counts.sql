-- The counts input: txmon's own raw table, a table of yours or a seed, as the var counts_source
-- says (macros/inputs/inputs.sql), always with txmon's columns.
{%- set input = txmon_input('counts') %}

-- One select over the input, without CTEs: PostgreSQL answers min() and max() of an indexed
-- column through a view as index probes only when the view has no WITH clause, and every
-- build reads the first and newest event times of all history through this view
-- (int_build_window). With CTEs it read every stored row each cycle.

select
    count_id,
    observed_at,
    date_trunc('minute', observed_at, 'UTC') as minute_at,
    lower(trim(status)) as status,
    transaction_count,
    lower(trim(dimension_name)) as dimension_name,
    trim(dimension_value) as dimension_value,
    load_id,
    loaded_at

from (
    {{ input_rows(input) }}
) as input_rows  -- noqa: ST05
