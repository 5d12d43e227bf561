with

source as (

    select * from {{ source('txmon_raw', 'load_removals') }}

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
