{#-
    The model's knobs and their defaults: the one place they are defined.

    setting(name) is what the models read. Its value comes from, in order: --vars (or a unit
    test's overrides), the settings file's [model] section (txmon passes it as TXMON_DBT_VARS
    to every dbt it runs, and `txmon db env` exports it for plain dbt), the default below.
-#}
{% macro setting_defaults() -%}
    {{ return({
        'baseline_mode': 'trailing',
        'threshold_sigmas': 3,
        'evaluation_window_minutes': 10,
        'min_history_minutes': 60,
        'recovery_minutes': none,
        'outlier_learning_share': 0.1,
        'lateness_minutes': 15,
        'outage_min_expected': 20,
        'outage_fraction': 0.1,
        'incident_slack_minutes': 10,
        'latency_sla_ms': none,
        'latency_sla_minutes': 5,
    }) }}
{%- endmacro %}

{#-
    baseline_mode: `trailing` (default), a baseline from past minutes only with anomalies kept
        out of it; `prototype`, the prototype's model (mean + 3 * sample std over every minute).
    threshold_sigmas: how many spreads from the baseline a value must be to be anomalous.
    evaluation_window_minutes: the value judged each minute is the rate over this many trailing
        minutes, so one noisy minute neither breaks nor fakes a run.
    min_history_minutes: a metric is not judged until its baseline has learnt this many minutes.
    recovery_minutes: judged healthy minutes in a row that end an episode; unset, 5 for the
        trailing model and 0 (the prototype's immediate recovery) for the prototype model.
    outlier_learning_share: an outlying minute is learnt at this fraction of the normal rate, so
        a lasting degradation keeps paging for hours before it becomes the new normal.
    lateness_minutes: an incremental build re-judges this many of the newest published minutes;
        older changes wait for a full refresh.
    outage_min_expected: a volume forecast at this many transactions a minute or more can have
        an outage (below it, a quiet minute is judged like any other).
    outage_fraction: an outage minute receives at most this share of the forecast volume. The
        severity_levels seed says how many outage minutes earn which severity.
    incident_slack_minutes: an episode that pages within this many minutes of the end of
        another's paging span (or while it is open) joins its incident (monitoring.incidents).
    latency_sla_ms: unset, no SLA; else a minute whose latency_p95_ms is above it is anomalous
        whatever the baseline says, and latency_sla_minutes such minutes in an episode earn its
        first severity (INFO) at once; longer ones escalate with the usual tiers.
-#}

{#-
    Old values still accepted for a release, with the value that replaces them: setting() reads
    them as their replacement and warn_deprecated_settings() says so once per dbt command.
-#}
{% macro deprecated_setting_values() -%}
    {{ return({
        'baseline_mode': {'seed': 'prototype'},
    }) }}
{%- endmacro %}

{% macro setting(name) -%}
    {%- set value = configured_setting(name) -%}
    {%- set replacements = deprecated_setting_values().get(name, {}) -%}
    {%- if value is string and value in replacements -%}
        {{ return(replacements[value]) }}
    {%- endif -%}
    {{ return(value) }}
{%- endmacro %}

{#- The value as given (--vars, then the settings file, then the default), before any renaming. -#}
{% macro configured_setting(name) -%}
    {%- set defaults = setting_defaults() -%}
    {%- if name not in defaults -%}
        {{ exceptions.raise_compiler_error("unknown setting '" ~ name ~ "'") }}
    {%- endif -%}
    {%- set given = var(name, none) -%}
    {%- if given is not none and given != '' -%}
        {{ return(given) }}
    {%- endif -%}
    {%- set from_settings_file = fromjson(env_var('TXMON_DBT_VARS', '{}')) -%}
    {{ return(from_settings_file.get(name, defaults[name])) }}
{%- endmacro %}

{#- Called once per dbt command (on-run-start): a deprecation warning for each renamed value. -#}
{% macro warn_deprecated_settings() -%}
    {%- if execute -%}
        {%- for name, replacements in deprecated_setting_values().items() -%}
            {%- set value = configured_setting(name) -%}
            {%- if value is string and value in replacements -%}
                {%- do exceptions.warn(
                    name ~ " '" ~ value ~ "' is deprecated and will be removed in the next"
                    ~ " release: use '" ~ replacements[value] ~ "' (it means the same)"
                ) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}
