{#- The column is never below zero (nulls pass; combine with not_null where needed). -#}
{% test non_negative(model, column_name) %}

select * from {{ model }}
where {{ column_name }} < 0

{% endtest %}
