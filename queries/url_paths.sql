-- URL paths: page views and sessions per URL path, most viewed first.
--
-- Page views as in page_views.sql (a change of URL within a session's window), grouped by the
-- URL's path (no scheme, host, query string or fragment).
--
-- @param min_views 1  only paths with at least this many views
-- @param from_date '0000-01-01'  first partition date (YYYY-MM-DD) to read
-- @param to_date '9999-12-31'  last partition date (YYYY-MM-DD) to read
WITH urls AS (
  SELECT session_id, window_id, ts_ms, seq, href,
         LAG(href) OVER (PARTITION BY session_id, window_id ORDER BY ts_ms, seq) AS previous_href
  FROM events
  WHERE href IS NOT NULL
    AND date >= ${from_date} AND date <= ${to_date}
),
views AS (
  SELECT session_id, ts_ms,
         split_part(split_part(regexp_replace(href, '^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*', ''), '?', 1), '#', 1) AS raw_path
  FROM urls
  WHERE previous_href IS NULL OR previous_href <> href
)
SELECT CASE WHEN raw_path = '' THEN '/' ELSE raw_path END AS path,
       COUNT(*) AS views,
       COUNT(DISTINCT session_id) AS sessions,
       MIN(ts_ms) AS first_seen_ms,
       MAX(ts_ms) AS last_seen_ms
FROM views
GROUP BY CASE WHEN raw_path = '' THEN '/' ELSE raw_path END
HAVING COUNT(*) >= ${min_views}
ORDER BY views DESC, path
