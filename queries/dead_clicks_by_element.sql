-- Dead clicks per element: which elements users click without the page reacting, per page URL.
--
-- Dead clicks exactly as in dead_clicks.sql (PostHog's $dead_click liveness rules approximated
-- from the replay: no DOM mutation within mutation_ms, no scroll or selection change within
-- scroll_ms / selection_ms, ...; see that file for the rules and how close they are), grouped by
-- the page URL and the clicked element as resolved by replaylake's DOM mirror (target_selector;
-- null when the node was not in the recorded DOM). One row per (url, element): dead clicks, the
-- sessions they happened in, and the first and last time.
--
-- @param mutation_ms 2500  a DOM mutation within this many ms makes the click live (mutation_threshold_ms)
-- @param scroll_ms 100  a scroll within this many ms makes the click live (scroll_threshold_ms)
-- @param selection_ms 100  a selection change within this many ms makes the click live (selection_change_threshold_ms)
-- @param focus_ms 1000  a focus of the clicked node this many ms before the click makes it live (LIVENESS_SUPPRESSION_MS)
-- @param timeout_ms 2750  absolute timeout (mutation_threshold_ms * 1.1)
-- @param repeat_ms 1000  a click on the same node as the previous click within this many ms is ignored
-- @param from_date '0000-01-01'  first partition date (YYYY-MM-DD) to read
-- @param to_date '9999-12-31'  last partition date (YYYY-MM-DD) to read
WITH window_events AS (
  SELECT session_id, COALESCE(window_id, '') AS window_key, date, seq, ts_ms, event_type, source,
         interaction, node_id, x, y, url, target_selector, target_tag, target_text
  FROM events
  WHERE date >= ${from_date} AND date <= ${to_date}
),
clicks AS (
  SELECT session_id, window_key, date, seq, ts_ms, node_id, x, y, url, target_selector,
         target_tag, target_text,
         LAG(node_id) OVER w AS previous_node_id,
         LAG(ts_ms) OVER w AS previous_ms
  FROM window_events
  WHERE event_type = 3 AND source = 2 AND interaction = 2
  WINDOW w AS (PARTITION BY session_id, window_key ORDER BY ts_ms, seq)
),
candidates AS (
  SELECT session_id, window_key, date, seq, ts_ms, node_id, x, y, url, target_selector,
         target_tag, target_text
  FROM clicks
  WHERE NOT (previous_node_id IS NOT NULL AND previous_node_id = node_id
             AND ts_ms - previous_ms < ${repeat_ms})
),
window_end AS (
  SELECT session_id, window_key, MAX(ts_ms) AS last_ms
  FROM window_events
  GROUP BY session_id, window_key
),
signals AS (
  -- signs of life: a mutation (source 0), scroll (3) or selection (14), a focus (MouseInteraction
  -- Focus: source 2, interaction 5), or a page change (FullSnapshot or Meta: event_type 2 or 4;
  -- their source is null). The kinds are told apart by these columns in the NOT EXISTS below, not by a
  -- CASE label: DataFusion copies such a CASE into the scan's filter, which then took 3 s.
  SELECT session_id, window_key, seq, ts_ms, node_id, event_type, source
  FROM window_events
  WHERE (event_type = 3 AND source IN (0, 3, 14)) OR (event_type = 3 AND source = 2 AND interaction = 5)
     OR event_type IN (2, 4)
),
dead AS (
  SELECT c.session_id, c.ts_ms, c.url, c.target_selector, c.target_tag, c.target_text
  FROM candidates c
  JOIN window_end e ON e.session_id = c.session_id AND e.window_key = c.window_key
  WHERE e.last_ms >= c.ts_ms + ${timeout_ms}
    -- no sign of life after the click (or, for a focus, just before it)
    AND NOT EXISTS (
      SELECT 1
      FROM signals s
      WHERE s.session_id = c.session_id AND s.window_key = c.window_key
        AND s.ts_ms >= c.ts_ms - ${focus_ms} AND s.ts_ms <= c.ts_ms + ${timeout_ms}
        AND ((s.source = 2 AND s.node_id = c.node_id AND s.seq < c.seq)        -- focus
           OR ((s.ts_ms > c.ts_ms OR (s.ts_ms = c.ts_ms AND s.seq > c.seq))
               AND ((s.source = 0 AND s.ts_ms - c.ts_ms <= ${mutation_ms})      -- mutation
                    OR (s.source = 3 AND s.ts_ms - c.ts_ms <= ${scroll_ms})     -- scroll
                    OR (s.source = 14 AND s.ts_ms - c.ts_ms <= ${selection_ms}) -- selection
                    OR s.event_type IN (2, 4))))                                -- page change
    )
)
SELECT url,
       target_selector,
       MIN(target_tag) AS target_tag,
       MIN(target_text) AS target_text,
       COUNT(*) AS dead_clicks,
       COUNT(DISTINCT session_id) AS sessions,
       MIN(ts_ms) AS first_ms,
       MAX(ts_ms) AS last_ms
FROM dead
GROUP BY url, target_selector
ORDER BY dead_clicks DESC, url NULLS LAST, target_selector NULLS LAST
