{#-
    A view replaced in place (`create or replace view`), never renamed, dropped or recreated:
    readers and the views and grants that depend on it never see it missing. PostgreSQL accepts
    the replacement when the columns it had keep their names, order and types; new columns go
    at the end. A view whose columns changed otherwise is dropped and created again in the same
    transaction, so readers wait for it instead of missing it.

    With an enforced contract (the public views have one, see dbt_project.yml) the query's
    columns must match the contract's names and data types, as for dbt's own views: a mismatch
    fails the build before the view is touched.
-#}
{% materialization stable_view, adapter='postgres' %}
    {%- set target_relation = this.incorporate(type='view') -%}
    {%- set existing_relation = load_cached_relation(this) -%}
    {%- set contract_config = config.get('contract') -%}

    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    {{ run_hooks(pre_hooks, inside_transaction=True) }}

    {%- if existing_relation is not none and existing_relation.type != 'view' %}
        {{ adapter.drop_relation(existing_relation) }}
    {%- endif %}

    {%- set replaceable = true -%}
    {%- if existing_relation is not none and existing_relation.type == 'view' -%}
        {%- set old_columns = column_signatures(
            get_column_schema_from_query('select * from ' ~ existing_relation)
        ) -%}
        {%- set new_columns = column_signatures(get_column_schema_from_query(sql)) -%}
        {%- set replaceable = new_columns[:old_columns | length] == old_columns -%}
    {%- endif %}

    {% call statement('main') -%}
        {%- if not replaceable %}
        drop view {{ target_relation }};
        {%- endif %}
        create or replace view {{ target_relation }}
        {%- if contract_config.enforced %}
            {{ get_assert_columns_equivalent(sql) }}
        {%- endif %}
        as (
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


{#- Each column as "name type", to compare the layouts of two queries. -#}
{% macro column_signatures(columns) -%}
    {%- set signatures = [] -%}
    {%- for column in columns -%}
        {%- do signatures.append(column.name ~ ' ' ~ column.data_type) -%}
    {%- endfor -%}
    {{ return(signatures) }}
{%- endmacro %}
