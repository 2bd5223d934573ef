-- Console errors by message: how often each console error was logged, in how many sessions, and when.
--
-- rrweb/console@1 plugin events at level error or assert (PostHog's console_error_count levels),
-- grouped by their message text (the payload strings joined with a space).
--
-- @param min_count 1  only messages logged at least this many times
-- @param from_date '0000-01-01'  first partition date (YYYY-MM-DD) to read
-- @param to_date '9999-12-31'  last partition date (YYYY-MM-DD) to read
SELECT console_message AS message,
       COUNT(*) AS occurrences,
       COUNT(DISTINCT session_id) AS sessions,
       MIN(ts_ms) AS first_seen_ms,
       MAX(ts_ms) AS last_seen_ms
FROM events
WHERE event_type = 6 AND plugin = 'rrweb/console@1' AND console_level IN ('error', 'assert')
  AND date >= ${from_date} AND date <= ${to_date}
GROUP BY console_message
HAVING COUNT(*) >= ${min_count}
ORDER BY occurrences DESC, message
