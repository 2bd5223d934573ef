-- Per-session summary: events, clicks, keypresses, mouse activity, page loads, console errors and timing of each session.
--
-- Computed from the events table alone, so it also works on lakes written by other tools with the
-- same columns. Counted per (session, window) first, then summed per session: windows are counted
-- without COUNT(DISTINCT), which DataFusion evaluates with a hash set per session. Clicks and
-- keypresses follow PostHog's click_count and keypress_count; page_loads counts rrweb Meta events
-- (one per page load or full snapshot of a page).
--
-- @param from_date '0000-01-01'  first partition date (YYYY-MM-DD) to read
-- @param to_date '9999-12-31'  last partition date (YYYY-MM-DD) to read
WITH per_window AS (
  SELECT session_id,
         window_id,
         MIN(date) AS date,
         COUNT(*) AS events,
         SUM(CASE WHEN event_type = 3 AND source = 2 AND interaction IN (2, 3, 4, 9) THEN 1 ELSE 0 END) AS clicks,
         SUM(CASE WHEN event_type = 3 AND source = 5 THEN 1 ELSE 0 END) AS keypresses,
         SUM(CASE WHEN event_type = 3 AND source IN (1, 2, 6) THEN 1 ELSE 0 END) AS mouse_activity,
         SUM(CASE WHEN event_type = 4 THEN 1 ELSE 0 END) AS page_loads,
         SUM(CASE WHEN event_type = 6 AND plugin = 'rrweb/console@1' AND console_level IN ('error', 'assert') THEN 1 ELSE 0 END) AS console_errors,
         MIN(ts_ms) AS first_ms,
         MAX(ts_ms) AS last_ms
  FROM events
  WHERE date >= ${from_date} AND date <= ${to_date}
  GROUP BY session_id, window_id
)
SELECT session_id,
       MIN(date) AS date,
       SUM(events) AS events,
       SUM(clicks) AS clicks,
       SUM(keypresses) AS keypresses,
       SUM(mouse_activity) AS mouse_activity,
       SUM(page_loads) AS page_loads,
       SUM(console_errors) AS console_errors,
       COUNT(window_id) AS windows,
       MIN(first_ms) AS first_ms,
       MAX(last_ms) AS last_ms,
       MAX(last_ms) - MIN(first_ms) AS duration_ms
FROM per_window
GROUP BY session_id
ORDER BY session_id
