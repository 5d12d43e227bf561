-- The counts input: txmon's own raw table, a table of yours or a seed, as the var counts_source
-- says (macros/inputs/inputs.sql), always with txmon's columns.
{%- set input = txmon_input('counts') %}

with

source as (

    {{ input_rows(input) }}

),

renamed as (

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

    from source

),

final as (

    select * from renamed

)

select * from final
