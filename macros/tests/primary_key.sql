{#-
    A table's primary key: every listed column is not null and the combination is unique.
    Usage (model level): data_tests: [{primary_key: {column_names: [metric_name, minute_at]}}]
-#}
{% test primary_key(model, column_names) %}

with

keyed as (

    select
        {{ column_names | join(', ') }},
        count(*) over (partition by {{ column_names | join(', ') }}) as rows_with_key

    from {{ model }}

),

violations as (

    select * from keyed
    where
        rows_with_key > 1
        {% for column_name in column_names %}
            or {{ column_name }} is null
        {% endfor %}

)

select * from violations

{% endtest %}
