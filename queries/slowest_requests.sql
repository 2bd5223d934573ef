-- The slowest network requests: the top requests by duration captured by rrweb/network@1.
--
-- One row per request, slowest first. Navigation and resource timing entries are included;
-- set min_duration_ms to skip fast ones.
--
-- @param limit 50  number of requests to return
-- @param min_duration_ms 0  only requests that took at least this many ms
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
       duration_ms,
       transfer_size
FROM network_requests
WHERE duration_ms >= ${min_duration_ms}
  AND date >= ${from_date} AND date <= ${to_date}
ORDER BY duration_ms DESC, session_id, seq, request_index
LIMIT ${limit}
