-- Dead clicks: clicks after which the page showed no sign of life (PostHog's $dead_click, approximated from the replay).
--
-- posthog-js (packages/browser/src/entrypoints/dead-clicks-autocapture.ts) reports a click as
-- dead when, after it, no DOM mutation came within mutation_threshold_ms (2500), no scroll within
-- scroll_threshold_ms (100) and no selection change within selection_change_threshold_ms (100),
-- checked when an absolute timeout of mutation_threshold_ms * 1.1 has passed; it ignores a click on
-- the same element as the previous click within 1000 ms, clicks on anchors and in the toolbar.
-- From rrweb events (per session and window, Click = event_type 3 / source 2 / interaction 2):
--   * mutation: an rrweb Mutation (source 0) at or after the click, within mutation_ms;
--   * scroll / selection: a Scroll (source 3) or Selection (source 14) within scroll_ms / selection_ms;
--   * focus: the clicked node got focus (MouseInteraction Focus) within focus_ms before the click,
--     standing in for posthog-js's focus and selectionchange signals (clicking into a text field or
--     a checkbox focuses it; rrweb records no collapsed selection);
--   * a page change (Meta or FullSnapshot event) within the absolute timeout counts as life too:
--     clicks on links navigate away, and posthog-js never reports a click whose page unloaded;
--   * a click on the same node_id as the previous click in the window within repeat_ms is ignored;
--   * a click is only judged when the recording goes on until the absolute timeout (otherwise the
--     page may have closed before posthog-js decided).
-- Not visible in a replay, so not applied: modifier keys, the anchor/toolbar checks (beyond the
-- navigation rule), window focus and visibility changes, and mutations rrweb did not record
-- (blocked or ignored elements). On tests/data/realclient (18 scripted clicks on non-interactive
-- elements, 138 other clicks) it finds 5 dead clicks, all on non-interactive elements, and none on
-- interactive ones; the other 13 were followed within 2500 ms by DOM mutations that the user's next
-- clicks caused, which posthog-js counts as life too.
--
-- url and target_* name the page and the clicked element (replaylake's DOM mirror); group by them
-- as dead_clicks_by_element.sql does.
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
)
SELECT c.session_id,
       CASE WHEN c.window_key = '' THEN NULL ELSE c.window_key END AS window_id,
       c.date,
       c.seq,
       c.ts_ms,
       c.node_id,
       c.x,
       c.y,
       c.url,
       c.target_selector,
       c.target_tag,
       c.target_text
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
ORDER BY c.session_id, c.ts_ms, c.seq
