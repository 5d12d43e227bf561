with

source as (

    select * from {{ source('txmon_raw', 'transaction_counts') }}

),

renamed as (

    select
        count_id,
        observed_at,
        date_trunc('minute', observed_at, 'UTC') as minute_at,
        lower(trim(status)) as status,
        transaction_count,
        load_id,
        loaded_at

    from source

),

final as (

    select * from renamed

)

select * from final
