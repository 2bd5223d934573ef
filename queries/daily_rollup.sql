-- Daily rollup: sessions, events and PostHog's activity counters per day.
--
-- One row per partition date (the UTC date of each session's first event), summed over the
-- recordings table: the same counters PostHog keeps per recording.
--
-- @param from_date '0000-01-01'  first partition date (YYYY-MM-DD) to read
-- @param to_date '9999-12-31'  last partition date (YYYY-MM-DD) to read
SELECT date,
       COUNT(*) AS sessions,
       COUNT(DISTINCT distinct_id) AS users,
       SUM(event_count) AS events,
       SUM(duration_ms) AS duration_ms,
       SUM(active_ms) AS active_ms,
       SUM(click_count) AS clicks,
       SUM(keypress_count) AS keypresses,
       SUM(mouse_activity_count) AS mouse_activity,
       SUM(console_error_count) AS console_errors,
       SUM(network_request_count) AS network_requests
FROM recordings
WHERE date >= ${from_date} AND date <= ${to_date}
GROUP BY date
ORDER BY date
