with

source as (

    select * from {{ source('txmon_raw', 'transactions') }}

),

renamed as (

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

    from source

),

final as (

    select * from renamed

)

select * from final
