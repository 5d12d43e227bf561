-- The transactions input: txmon's own raw table, a table of yours or a seed, as the var
-- transactions_source says (macros/inputs/inputs.sql), always with txmon's columns.
{%- set input = txmon_input('transactions') %}

-- Without CTEs, like stg_txmon_raw__transaction_counts: so that the build window's min() and
-- max() of created_at are index probes.

select
    transaction_id,
    created_at,
    date_trunc('minute', created_at, 'UTC') as minute_at,
    lower(trim(status)) as status,
    amount,
    channel,
    product,
    acquirer,
    card_type,
    auth_code,
    duration_ms,
    load_id,
    loaded_at

from (
    {{ input_rows(input) }}
) as input_rows  -- noqa: ST05
