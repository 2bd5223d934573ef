-- Clicks: one row per click as PostHog counts them (click_count): Click, DblClick, ContextMenu, TouchEnd.
--
-- Every rrweb MouseInteraction (event_type 3, source 2) of the types PostHog's ingestion counts as
-- a click (interaction 2 Click, 3 ContextMenu, 4 DblClick, 9 TouchEnd), with its time, target node
-- and position. A DOM double click is recorded as two Click events plus one DblClick event.
-- Summing rows per session gives recordings.click_count. The page URL and the clicked element
-- (tag, id, CSS selector, visible text, link href) come from replaylake's DOM mirror; they are
-- null when the node was not in the recorded DOM.
--
-- @param from_date '0000-01-01'  first partition date (YYYY-MM-DD) to read
-- @param to_date '9999-12-31'  last partition date (YYYY-MM-DD) to read
SELECT session_id,
       window_id,
       date,
       seq,
       ts_ms,
       interaction,
       interaction_name,
       node_id,
       x,
       y,
       pointer_type,
       url,
       target_tag,
       target_id,
       target_selector,
       target_text,
       target_href
FROM events
WHERE event_type = 3 AND source = 2 AND interaction IN (2, 3, 4, 9)
  AND date >= ${from_date} AND date <= ${to_date}
ORDER BY session_id, ts_ms, seq
