-- Failing network requests: HTTP errors (status >= min_status) and requests that got no response (status 0).
--
-- One row per request captured by rrweb/network@1 whose status is min_status or more, or 0 (the
-- browser reports 0 for network errors, CORS failures and aborted requests). Requests without a
-- captured status are not included.
--
-- @param min_status 400  lowest HTTP status counted as a failure
-- @param from_date '0000-01-01'  first partition date (YYYY-MM-DD) to read
-- @param to_date '9999-12-31'  last partition date (YYYY-MM-DD) to read
SELECT session_id,
       seq,
       request_index,
       ts_ms,
       method,
       url,
       status,
       initiator_type,
       duration_ms
FROM network_requests
WHERE (status >= ${min_status} OR status = 0)
  AND date >= ${from_date} AND date <= ${to_date}
ORDER BY session_id, ts_ms, seq, request_index
