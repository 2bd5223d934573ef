-- Most-clicked elements per page URL: the top elements users click on each page.
--
-- DOM clicks (rrweb MouseInteraction Click: event_type 3, source 2, interaction 2) grouped by the
-- page URL at the click and the clicked element as resolved by replaylake's DOM mirror
-- (target_selector: `tag#id.class` parts up to the nearest ancestor with an id; null when the node
-- was not in the recorded DOM), ranked within each URL by clicks. A DOM double click counts as
-- its two Click events.
--
-- @param top 10  elements per URL
-- @param from_date '0000-01-01'  first partition date (YYYY-MM-DD) to read
-- @param to_date '9999-12-31'  last partition date (YYYY-MM-DD) to read
WITH per_element AS (
  SELECT url,
         target_selector,
         MIN(target_tag) AS target_tag,
         MIN(target_text) AS target_text,
         MIN(target_href) AS target_href,
         COUNT(*) AS clicks,
         COUNT(DISTINCT session_id) AS sessions
  FROM events
  WHERE event_type = 3 AND source = 2 AND interaction = 2
    AND date >= ${from_date} AND date <= ${to_date}
  GROUP BY url, target_selector
),
ranked AS (
  SELECT url, target_selector, target_tag, target_text, target_href, clicks, sessions,
         ROW_NUMBER() OVER (PARTITION BY url
                            ORDER BY clicks DESC, target_selector NULLS LAST) AS rank_in_url
  FROM per_element
)
SELECT url, rank_in_url, target_selector, target_tag, target_text, target_href, clicks, sessions
FROM ranked
WHERE rank_in_url <= ${top}
ORDER BY url NULLS LAST, rank_in_url
