-- Each flow run of a day: when it started and how it ended. Retention reads it to tell finished runs
-- (whose staging rows may go) from running ones, and which days have succeeded since a run failed.
create table ops.day_runs (
    flow_run_id text primary key,
    day text not null,
    status text not null check (status in ('running', 'success', 'failure')),
    started_at timestamptz not null default now(),
    finished_at timestamptz,
    check ((status = 'running') = (finished_at is null))
);
create index day_runs_day on ops.day_runs (day, started_at);
