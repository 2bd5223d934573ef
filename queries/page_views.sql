-- Page views: one row per page a session showed, with its URL and path.
--
-- A page view is an event carrying a URL (an rrweb Meta event's href, or the href of a custom
-- event such as posthog-js's $pageview) whose URL differs from the previous URL seen in the same
-- session and window: reloads of the same URL and repeated full snapshots are not counted again.
-- path is the URL without scheme, host, query string and fragment ('/' when empty).
--
-- @param from_date '0000-01-01'  first partition date (YYYY-MM-DD) to read
-- @param to_date '9999-12-31'  last partition date (YYYY-MM-DD) to read
WITH urls AS (
  SELECT session_id, window_id, date, seq, ts_ms, href,
         LAG(href) OVER (PARTITION BY session_id, window_id ORDER BY ts_ms, seq) AS previous_href
  FROM events
  WHERE href IS NOT NULL
    AND date >= ${from_date} AND date <= ${to_date}
),
views AS (
  SELECT session_id, window_id, date, seq, ts_ms, href,
         split_part(split_part(regexp_replace(href, '^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*', ''), '?', 1), '#', 1) AS raw_path
  FROM urls
  WHERE previous_href IS NULL OR previous_href <> href
)
SELECT session_id,
       window_id,
       date,
       seq,
       ts_ms,
       href AS url,
       CASE WHEN raw_path = '' THEN '/' ELSE raw_path END AS path
FROM views
ORDER BY session_id, ts_ms, seq
