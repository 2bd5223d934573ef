-- Rage clicks per element: which elements users rage-click, per page URL.
--
-- Bursts exactly as in rage_clicks.sql (posthog-js's definition: a chain of min_clicks or more
-- DOM clicks in one window, each less than max_gap_ms after and max_distance_px (Manhattan) from
-- the previous one), each attributed to the element of its first click as resolved by
-- replaylake's DOM mirror (target_selector; null when the node was not in the recorded DOM), then
-- grouped by page URL and element. One row per (url, element): bursts, the clicks in them, the
-- sessions they happened in, and the first and last burst time.
--
-- @param min_clicks 3  clicks in a chain that make a rage click (posthog-js click_count)
-- @param max_gap_ms 1000  a click joins the chain if it is less than this many ms after the previous one (timeout_ms)
-- @param max_distance_px 30  ... and less than this many px (Manhattan) from it (threshold_px)
-- @param from_date '0000-01-01'  first partition date (YYYY-MM-DD) to read
-- @param to_date '9999-12-31'  last partition date (YYYY-MM-DD) to read
--
-- Computed as in rage_clicks.sql (see there): window functions over buckets of sessions per date
-- rather than one partition per (session, window), which DataFusion evaluates much faster.
WITH clicks AS (
  SELECT session_id, window_id, date, SUBSTR(session_id, 1, 2) AS bucket, seq, ts_ms, x, y,
         url, target_selector, target_tag, target_text
  FROM events
  WHERE event_type = 3 AND source = 2 AND interaction = 2
    AND date >= ${from_date} AND date <= ${to_date}
),
marked AS (
  SELECT session_id, window_id, date, bucket, seq, ts_ms, url, target_selector, target_tag, target_text,
         CASE WHEN LAG(ts_ms) OVER (PARTITION BY date, bucket ORDER BY session_id, window_id, ts_ms, seq) IS NULL
                OR LAG(session_id) OVER (PARTITION BY date, bucket ORDER BY session_id, window_id, ts_ms, seq) <> session_id
                OR LAG(window_id) OVER (PARTITION BY date, bucket ORDER BY session_id, window_id, ts_ms, seq) <> window_id
                OR ts_ms - LAG(ts_ms) OVER (PARTITION BY date, bucket ORDER BY session_id, window_id, ts_ms, seq) >= ${max_gap_ms}
                OR COALESCE(ABS(x - LAG(x) OVER (PARTITION BY date, bucket ORDER BY session_id, window_id, ts_ms, seq))
                          + ABS(y - LAG(y) OVER (PARTITION BY date, bucket ORDER BY session_id, window_id, ts_ms, seq)),
                            ${max_distance_px}) >= ${max_distance_px}
              THEN 1 ELSE 0 END AS chain_start,
         COUNT(*) OVER (PARTITION BY date, bucket ORDER BY session_id, window_id, ts_ms, seq
                        ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS rows_in_bucket
  FROM clicks
),
chains AS (
  SELECT session_id, window_id, date, bucket, ts_ms, url, target_selector, target_tag, target_text, chain_start,
         SUM(chain_start) OVER (PARTITION BY date, bucket ORDER BY session_id, window_id, ts_ms, seq
                                ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS chain,
         LEAD(chain_start) OVER (PARTITION BY date, bucket ORDER BY session_id, window_id, ts_ms, seq) AS next_start,
         COUNT(*) OVER (PARTITION BY date, bucket ORDER BY session_id, window_id, ts_ms, seq
                        ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS rows_in_bucket
  FROM marked
  WHERE rows_in_bucket > 0
),
bursts AS (
  SELECT session_id,
         MIN(ts_ms) AS start_ms,
         COUNT(*) AS clicks,
         MIN(CASE WHEN chain_start = 1 THEN url END) AS url,
         MIN(CASE WHEN chain_start = 1 THEN target_selector END) AS target_selector,
         MIN(CASE WHEN chain_start = 1 THEN target_tag END) AS target_tag,
         MIN(CASE WHEN chain_start = 1 THEN target_text END) AS target_text
  FROM chains
  -- a click alone in its chain (it starts one and the next click starts another) is never part
  -- of a burst: dropping those first leaves the grouping a fraction of the clicks
  WHERE (chain_start = 0 OR next_start = 0 OR ${min_clicks} <= 1) AND rows_in_bucket > 0
  GROUP BY session_id, window_id, date, bucket, chain
  HAVING COUNT(*) >= ${min_clicks}
)
SELECT url,
       target_selector,
       MIN(target_tag) AS target_tag,
       MIN(target_text) AS target_text,
       COUNT(*) AS bursts,
       SUM(clicks) AS clicks,
       COUNT(DISTINCT session_id) AS sessions,
       MIN(start_ms) AS first_ms,
       MAX(start_ms) AS last_ms
FROM bursts
GROUP BY url, target_selector
ORDER BY bursts DESC, clicks DESC, url NULLS LAST, target_selector NULLS LAST
