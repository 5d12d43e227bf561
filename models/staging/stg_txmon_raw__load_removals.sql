-- Loads removed from txmon's own raw tables; none when no input reads them.

with

source as (

    {% if reads_txmon_raw_tables() -%}
        select * from {{ source('txmon_raw', 'load_removals') }}
    {%- else -%}
        select
            null::bigint as load_id,
            null::timestamptz as first_minute_at,
            null::timestamptz as last_minute_at,
            null::timestamptz as removed_at
        where false
    {%- endif %}

),

renamed as (

    select
        load_id,
        first_minute_at,
        last_minute_at,
        removed_at

    from source

),

final as (

    select * from renamed

)

select * from final
