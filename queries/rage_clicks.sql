-- Rage clicks by posthog-js's exact definition: one row per burst.
--
-- posthog-js (packages/browser/src/extensions/rageclick.ts) keeps a chain of DOM clicks per page:
-- a click joins the chain when it is less than max_gap_ms after, and less than max_distance_px
-- (Manhattan distance |dx| + |dy|) away from, the previous click; otherwise it starts a new chain.
-- A chain of min_clicks or more clicks is one rage click (posthog-js fires once, at the
-- min_clicks-th click; later clicks of the same chain do not fire again). Clicks are rrweb
-- MouseInteraction Click events (event_type 3, source 2, interaction 2) with their x/y and event
-- time, per session and window; DblClick (interaction 4) is a separate event and is not counted.
-- A click without coordinates starts a new chain.
--
-- @param min_clicks 3  clicks in a chain that make a rage click (posthog-js click_count)
-- @param max_gap_ms 1000  a click joins the chain if it is less than this many ms after the previous one (timeout_ms)
-- @param max_distance_px 30  ... and less than this many px (Manhattan) from it (threshold_px)
-- @param from_date '0000-01-01'  first partition date (YYYY-MM-DD) to read
-- @param to_date '9999-12-31'  last partition date (YYYY-MM-DD) to read
--
-- How it is computed: the clicks of a date are cut into buckets by the first two characters of
-- the session id (a session never spans dates or buckets), and each bucket is ordered by session,
-- window and time; LAG detects where a session or window changes. Few large window partitions,
-- instead of one per (session, window), let DataFusion evaluate LAG/LEAD/SUM over whole arrays:
-- with PARTITION BY session_id, window_id it ran them row by row and the rage query took 1.3x as
-- long. The `rows_in_bucket` counts force that whole-partition evaluation in DataFusion 55
-- (a frame reaching UNBOUNDED FOLLOWING); other engines ignore them. DuckDB and Spark give the
-- same rows either way.
WITH clicks AS (
  SELECT session_id, window_id, date, SUBSTR(session_id, 1, 2) AS bucket, seq, ts_ms, node_id, x, y
  FROM events
  WHERE event_type = 3 AND source = 2 AND interaction = 2
    AND date >= ${from_date} AND date <= ${to_date}
),
marked AS (
  SELECT session_id, window_id, date, bucket, seq, ts_ms, node_id, x, y,
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
  -- chain numbers count chain starts through the bucket, so they are unique within it
  SELECT session_id, window_id, date, bucket, seq, ts_ms, node_id, x, y, chain_start,
         SUM(chain_start) OVER (PARTITION BY date, bucket ORDER BY session_id, window_id, ts_ms, seq
                                ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS chain,
         LEAD(chain_start) OVER (PARTITION BY date, bucket ORDER BY session_id, window_id, ts_ms, seq) AS next_start,
         COUNT(*) OVER (PARTITION BY date, bucket ORDER BY session_id, window_id, ts_ms, seq
                        ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS rows_in_bucket
  FROM marked
  WHERE rows_in_bucket > 0
)
SELECT session_id,
       window_id,
       MIN(date) AS date,
       MIN(ts_ms) AS start_ms,
       MAX(ts_ms) AS end_ms,
       MAX(ts_ms) - MIN(ts_ms) AS duration_ms,
       COUNT(*) AS clicks,
       MIN(seq) AS first_seq,
       MIN(x) AS min_x,
       MAX(x) AS max_x,
       MIN(y) AS min_y,
       MAX(y) AS max_y,
       COUNT(DISTINCT node_id) AS nodes
FROM chains
-- a click alone in its chain (it starts one and the next click starts another) is never part of
-- a burst: dropping those first leaves the grouping a fraction of the clicks
WHERE (chain_start = 0 OR next_start = 0 OR ${min_clicks} <= 1) AND rows_in_bucket > 0
GROUP BY session_id, window_id, date, bucket, chain
HAVING COUNT(*) >= ${min_clicks}
ORDER BY session_id, start_ms, first_seq
