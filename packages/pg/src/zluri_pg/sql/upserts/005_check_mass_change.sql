-- reads: staging.stg_agents, staging.stg_agent_details, staging.stg_groups, staging.stg_group_memberships, core.agents, core.groups, core.group_memberships; writes: -
-- Runs after staging and before every upsert: a day of the wrong label scheme, or one that would
-- deactivate or remove far more than usual (ops.mass_change_problems), fails here and nothing of it
-- reaches the core tables. 010 and 020 check again inside their own transactions.
create temp table step_counts (metric text not null, n bigint not null) on commit drop;
select ops.check_day_scheme(current_setting('app.day'));
select ops.enforce_mass_change_guard();
select * from ops.record_step('core.agents, core.group_memberships');
