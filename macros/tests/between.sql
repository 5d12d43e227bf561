{#-
    The column lies within [min_value, max_value] (nulls pass). `where` narrows the rows checked,
    e.g. only rate metrics for a rate column shared with volume.
-#}
{% test between(model, column_name, min_value, max_value) %}

select * from {{ model }}
where {{ column_name }} < {{ min_value }} or {{ column_name }} > {{ max_value }}

{% endtest %}
