{#-
    A view replaced in place (`create or replace view`), never renamed, dropped or recreated:
    readers and the views and grants that depend on it never see it missing. PostgreSQL accepts
    the replacement when the columns it had keep their names, order and types; new columns go
    at the end. A view whose columns changed otherwise is dropped and created once, in the same
    transaction.
-#}
{% materialization stable_view, adapter='postgres' %}
    {%- set target_relation = this.incorporate(type='view') -%}
    {%- set existing_relation = load_cached_relation(this) -%}

    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    {{ run_hooks(pre_hooks, inside_transaction=True) }}

    {%- if existing_relation is not none and existing_relation.type != 'view' %}
        {{ adapter.drop_relation(existing_relation) }}
    {%- endif %}

    {%- set columns_compatible = true -%}
    {%- if existing_relation is not none and existing_relation.type == 'view' -%}
        {%- set old_columns = adapter.get_columns_in_relation(existing_relation) | map(attribute='name') | list -%}
        {%- set new_columns = get_column_schema_from_query(sql) | map(attribute='name') | list -%}
        {%- if new_columns[:old_columns | length] != old_columns -%}
            {%- set columns_compatible = false -%}
        {%- endif -%}
    {%- endif %}

    {% call statement('main') -%}
        {%- if not columns_compatible %}
        drop view {{ target_relation }};
        {%- endif %}
        create or replace view {{ target_relation }} as (
            {{ sql }}
        )
    {%- endcall %}

    {% do persist_docs(target_relation, model) %}
    {{ run_hooks(post_hooks, inside_transaction=True) }}
    {% do apply_grants(target_relation, config.get('grants'), should_revoke=True) %}
    {{ adapter.commit() }}
    {{ run_hooks(post_hooks, inside_transaction=False) }}

    {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}
